// @rulehost/sdk: write a brand's tagging, scoring and targeting rules in
// TypeScript as a rulehost plugin. `definePlugin` declares the rules (the
// module's default export); `rulehost build` makes the package a sandboxed
// WebAssembly component. See README.md.

export * as kinds from "./kinds.js";
export { Config, bool, f64, i64, text, u32, type ConfigValue } from "./config.js";
export { LayoutError, NAME_BYTES, STAGES, type Mode, type Stage } from "./layout.js";
export { Lifecycle } from "./lifecycle.js";
export { PluginError, Proposal, Score, StageVerdict, Tag, type Scoring } from "./output.js";
export { Breakpoints, SEGMENTS, computeRfm, saturatingAdd, segmentOf, type Rfm, type Segment } from "./rfm.js";
export {
  Ctx,
  Session,
  TIMER,
  definePlugin,
  exportRules,
  seededRandom,
  type EngineHooks,
  type Host,
  type Level,
  type Plugin,
  type Rules,
  type Woken,
} from "./session.js";
export { compareText, counted, debugString } from "./text.js";
export { utf8Length } from "./utf8.js";
export { LocalDate, daysSince, endOfLocalDay, localDate, parseRfc3339, plusDays } from "./time.js";
export {
  Event,
  Findings,
  Offer,
  Offers,
  Profile,
  asBool,
  asInt,
  asNumber,
  asText,
  asTime,
  byPriority,
  maxBy,
  type ChannelChoice,
  type TagKey,
  type Value,
} from "./views.js";
