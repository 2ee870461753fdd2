/// One Kafka record as received, owned, before inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Kafka timestamp in milliseconds since the epoch, when the broker gave one.
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    /// Header name and value; values are kept as bytes.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// `None` is a tombstone.
    pub value: Option<Vec<u8>>,
}

impl RawRecord {
    /// Approximate memory held by the record, for byte-based batching.
    pub fn size_bytes(&self) -> usize {
        self.topic.len()
            + self.key.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
                .sum::<usize>()
            + 64
    }
}
