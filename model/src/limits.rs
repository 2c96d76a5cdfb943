//! How large a request may be.

/// Bounds on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// Events per profile.
    pub events: usize,
    /// Attributes per profile.
    pub attributes: usize,
    /// Identities per profile.
    pub identities: usize,
    /// Properties per event.
    pub props: usize,
    /// Tags from the previous decision.
    pub prior_tags: usize,
    /// Offers in the catalog.
    pub offers: usize,
    /// Channels per offer.
    pub channels: usize,
    /// Characters of any one string (ids, keys, values, kinds).
    pub string_chars: usize,
}

impl Default for InputLimits {
    fn default() -> Self {
        Self {
            events: 10_000,
            attributes: 1_000,
            identities: 100,
            props: 100,
            prior_tags: 1_000,
            offers: 1_000,
            channels: 32,
            string_chars: 4 << 10,
        }
    }
}
