//! The zero-setup broker for `strata demo`: librdkafka's in-process mock cluster.
//! Tests use a real broker; this exists so a newcomer needs nothing installed.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::{Error, Result};

/// An in-process Kafka cluster that lives as long as this value.
pub struct EmbeddedBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("bootstrap", &self.cluster.bootstrap_servers())
            .finish()
    }
}

impl EmbeddedBroker {
    /// Start a one-broker cluster with the given topics.
    pub fn start(topics: &[String], partitions: i32) -> Result<Self> {
        let cluster = MockCluster::new(1).map_err(Error::Client)?;
        for t in topics {
            cluster
                .create_topic(t, partitions, 1)
                .map_err(|e| Error::CreateTopic {
                    topic: t.clone(),
                    message: e.to_string(),
                })?;
        }
        Ok(Self { cluster })
    }

    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }
}
