// The event kinds the contract names (`sdk/src/kinds.rs`); a profile may
// hold any other kind too.

/** An order was paid; `amount_minor` is what was paid. */
export const PURCHASE = "purchase";
/** Money was returned; `amount_minor` is the refunded amount (positive). */
export const REFUND = "refund";
/** A product or page was viewed. */
export const VIEW = "view";
/** A link or button was clicked. */
export const CLICK = "click";
/** Content was shared with others. */
export const SHARE = "share";
/** Content was liked. */
export const LIKE = "like";
/** A comment was written. */
export const COMMENT = "comment";
/** A product review was written. */
export const REVIEW = "review";
/** User-generated content (a post, photo or video) was published. */
export const UGC = "ugc";
/** A 1:1 message or enquiry was sent to the brand. */
export const MESSAGE = "message";
/** A coupon was received. */
export const COUPON_RECEIVED = "coupon_received";
/** A coupon was used. */
export const COUPON_REDEEMED = "coupon_redeemed";
/** The customer joined a group chat. */
export const JOIN_GROUP = "join_group";
/** The customer left a group chat. */
export const LEAVE_GROUP = "leave_group";
/** The customer subscribed (to an account, a newsletter). */
export const SUBSCRIBE = "subscribe";
/** The customer unsubscribed. */
export const UNSUBSCRIBE = "unsubscribe";
/** A payment was started but not finished. */
export const PAYMENT_ABANDONED = "payment_abandoned";
