// What a plugin returns: tags, scores, a stage and proposals, each with the
// rule that produced it and a reason a person can read (`sdk/src/output.rs`).
// The host refuses any of them without a rule id or a reason, so each
// builder starts from the required parts and makes the rest one call each.

import type { Stage } from "./layout.js";

/** A failure the plugin reports itself, with a stable code. */
export class PluginError extends Error {
  override name = "PluginError";

  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What every answer carries: the rule that produced it and why. */
abstract class Explained {
  reasonText = "";
  ruleId = "";

  /** The rule that produced it. */
  rule(ruleId: string): this {
    this.ruleId = ruleId;
    return this;
  }

  /** Why, for a person. */
  reason(reason: string): this {
    this.reasonText = reason;
    return this;
  }
}

/** A label on the customer, e.g. `("member", "gold")`. */
export class Tag extends Explained {
  expiresAt: number | undefined;

  constructor(
    readonly group: string,
    readonly name: string,
  ) {
    super();
  }

  /** When it lapses (milliseconds since the epoch). */
  expires(at: number): this {
    this.expiresAt = at;
    return this;
  }
}

/** A named number about the customer. */
export class Score extends Explained {
  constructor(
    readonly name: string,
    readonly value: number,
  ) {
    super();
  }
}

/** The lifecycle stage a plugin places the customer in, with why. */
export class StageVerdict extends Explained {
  constructor(readonly stage: Stage) {
    super();
  }
}

/** What the score stage answers: scores and, optionally, a stage. */
export interface Scoring {
  scores: Score[];
  stage?: StageVerdict | undefined;
}

/** An offer of the catalog proposed on a channel. */
export class Proposal extends Explained {
  scoreValue = 0;

  constructor(
    readonly offerId: string,
    readonly channel: string,
  ) {
    super();
  }

  /** How strongly (higher first when the policy selects). */
  score(score: number): this {
    this.scoreValue = score;
    return this;
  }
}
