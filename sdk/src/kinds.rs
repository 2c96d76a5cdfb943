//! Common event kinds. The set is open: brands send their own kinds too, and
//! helpers ignore kinds they do not know.

/// An order was paid; `amount_minor` is what was paid.
pub const PURCHASE: &str = "purchase";
/// Money was returned; `amount_minor` is the refunded amount (positive).
pub const REFUND: &str = "refund";
/// A product or page was viewed.
pub const VIEW: &str = "view";
/// A link or button was clicked.
pub const CLICK: &str = "click";
/// Content was shared with others.
pub const SHARE: &str = "share";
/// Content was liked.
pub const LIKE: &str = "like";
/// A comment was written.
pub const COMMENT: &str = "comment";
/// A product review was written.
pub const REVIEW: &str = "review";
/// User-generated content (a post, photo or video) was published.
pub const UGC: &str = "ugc";
/// A 1:1 message or enquiry was sent to the brand.
pub const MESSAGE: &str = "message";
/// A coupon was received.
pub const COUPON_RECEIVED: &str = "coupon_received";
/// A coupon was used.
pub const COUPON_REDEEMED: &str = "coupon_redeemed";
/// The customer joined a group chat.
pub const JOIN_GROUP: &str = "join_group";
/// The customer left a group chat.
pub const LEAVE_GROUP: &str = "leave_group";
/// The customer subscribed (to an account, a newsletter).
pub const SUBSCRIBE: &str = "subscribe";
/// The customer unsubscribed.
pub const UNSUBSCRIBE: &str = "unsubscribe";
/// A payment was started but not finished.
pub const PAYMENT_ABANDONED: &str = "payment_abandoned";
