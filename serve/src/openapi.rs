//! The OpenAPI description of the HTTP API, served at `/openapi.json`.

use serde_json::{Value, json};

pub fn document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let errors = json!({
        "400": {"description": "bad request", "content": {"application/json": {"schema": error}}},
        "401": {"description": "missing or invalid bearer token", "content": {"application/json": {"schema": error}}},
        "413": {"description": "body or request too large", "content": {"application/json": {"schema": error}}}
    });
    let with = |ok: Value| {
        let mut r = errors.clone();
        r["200"] = ok;
        r
    };
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Strata feature service", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Online features (Feast-compatible) and point-in-time training sets over the Gold feature tables."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
                "OnlineRequest": {"type": "object", "required": ["features", "entities"], "properties": {
                    "features": {"type": "array", "items": {"type": "string", "example": "player_features:sessions_7d"}},
                    "entities": {"type": "object", "additionalProperties": {"type": "array", "items": {}}},
                    "full_feature_names": {"type": "boolean", "default": false}}},
                "OnlineResponse": {"type": "object", "properties": {
                    "metadata": {"type": "object", "properties": {"feature_names": {"type": "array", "items": {"type": "string"}}}},
                    "results": {"type": "array", "items": {"type": "object", "properties": {
                        "values": {"type": "array", "items": {}},
                        "statuses": {"type": "array", "items": {"type": "string", "enum": ["PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE", "NULL_VALUE"]}},
                        "event_timestamps": {"type": "array", "items": {"type": "string", "format": "date-time"}}}}}}},
                "TrainingRequest": {"type": "object", "required": ["features", "entity_rows"], "properties": {
                    "features": {"type": "array", "items": {"type": "string"}},
                    "entity_rows": {"type": "array", "items": {"type": "object"}},
                    "timestamp_column": {"type": "string", "default": "event_timestamp"},
                    "format": {"type": "string", "enum": ["arrow", "parquet", "json"], "default": "arrow"},
                    "full_feature_names": {"type": "boolean", "default": false}}}
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/get-online-features": {"post": {
                "summary": "Latest feature values per entity (Feast's request and response shape); values older than the view's TTL are OUTSIDE_MAX_AGE.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OnlineRequest"}}}},
                "responses": with(json!({"description": "feature values", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OnlineResponse"}}}}))}},
            "/features/{view}/{entity_id}": {"get": {
                "summary": "One entity's latest features, for people.",
                "parameters": [
                    {"name": "view", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "entity_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": with(json!({"description": "the features", "content": {"application/json": {"schema": {"type": "object"}}}}))}},
            "/training-set": {"post": {
                "summary": "Point-in-time correct training set: each entity row gets the latest feature values known at its timestamp, within TTL; rows without a match are kept with nulls.",
                "parameters": [
                    {"name": "features", "in": "query", "schema": {"type": "string"}, "description": "comma-separated view:feature (CSV and Parquet bodies)"},
                    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["arrow", "parquet", "json"]}},
                    {"name": "timestamp_column", "in": "query", "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/TrainingRequest"}},
                    "text/csv": {"schema": {"type": "string"}},
                    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": with(json!({"description": "the training set", "content": {
                    "application/vnd.apache.arrow.stream": {}, "application/vnd.apache.parquet": {}, "application/json": {}}}))}},
            "/healthz": {"get": {"security": [], "summary": "Liveness.", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"security": [], "summary": "Readiness: every feature view's table is loaded.", "responses": {"200": {"description": "ready"}, "503": {"description": "a view is not loaded yet (named)"}}}},
            "/metrics": {"get": {"security": [], "summary": "Prometheus metrics.", "responses": {"200": {"description": "text exposition format"}}}},
            "/openapi.json": {"get": {"security": [], "summary": "This document.", "responses": {"200": {"description": "OpenAPI 3"}}}}
        }
    })
}
