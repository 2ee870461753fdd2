//! Time travel in SQL: `layer.table@vN` reads table version N.

use crate::TableName;

/// A versioned reference found in a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRef {
    pub table: TableName,
    pub version: u64,
    /// The name it is registered under: `layer."table@vN"`.
    pub registered: String,
}

fn ident(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

/// Rewrite every `layer.table@vN` into a quoted identifier DataFusion accepts, and list them.
pub fn rewrite(sql: &str) -> (String, Vec<VersionRef>) {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut refs = Vec::new();
    let mut i = 0;
    let mut in_string = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_string = !in_string;
        }
        if !in_string && ident(c) && (i == 0 || !(ident(chars[i - 1]) || chars[i - 1] == '"')) {
            // Try layer.table@vN starting here.
            let start = i;
            let mut j = i;
            while j < chars.len() && ident(chars[j]) {
                j += 1;
            }
            let layer: String = chars[start..j].iter().collect();
            if j < chars.len() && chars[j] == '.' {
                let t0 = j + 1;
                let mut k = t0;
                while k < chars.len() && ident(chars[k]) {
                    k += 1;
                }
                let table: String = chars[t0..k].iter().collect();
                if k + 2 < chars.len() + 1
                    && k + 1 < chars.len()
                    && chars[k] == '@'
                    && chars[k + 1] == 'v'
                {
                    let d0 = k + 2;
                    let mut m = d0;
                    while m < chars.len() && chars[m].is_ascii_digit() {
                        m += 1;
                    }
                    if m > d0 && !table.is_empty() {
                        let digits: String = chars[d0..m].iter().collect();
                        if let Ok(version) = digits.parse::<u64>() {
                            let registered = format!("{layer}.\"{table}@v{version}\"");
                            out.push_str(&registered);
                            refs.push(VersionRef {
                                table: TableName::new(layer, table),
                                version,
                                registered,
                            });
                            i = m;
                            continue;
                        }
                    }
                }
            }
            out.extend(&chars[start..j]);
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    (out, refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_names_are_rewritten_and_strings_left_alone() {
        let (sql, refs) = rewrite(
            "SELECT count(*) FROM silver.missions@v3 JOIN gold.player_daily p ON 'x.y@v1' = p.player_id",
        );
        assert_eq!(
            sql,
            "SELECT count(*) FROM silver.\"missions@v3\" JOIN gold.player_daily p ON 'x.y@v1' = p.player_id"
        );
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].table.to_string(), "silver.missions");
        assert_eq!(refs[0].version, 3);
    }
}
