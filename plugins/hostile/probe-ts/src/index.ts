// What a TypeScript plugin sees of the clock and randomness, and what
// happens when it misbehaves. Config key `mode`:
//   clock-random  tags what Date.now(), new Date() and Math.random() give
//   loop          never returns
//   memory        allocates 1 MiB blocks until stopped
//   recursion     recurses without end
//   throw         throws an Error (not a PluginError)
//   oversized     answers `count` (100000) tags of empty strings

import { PluginError, Tag, definePlugin, text, u32 } from "@rulehost/sdk";

function recurse(n: number): number {
  return recurse(n + 1) + 1;
}

export default definePlugin(() => ({
  tag(ctx, profile) {
    const mode = ctx.config.required("mode", text);
    const tag = (group: string, name: string) => new Tag(group, name).rule(`probe.${group}`).reason(mode);
    switch (mode) {
      case "clock-random":
        return [
          tag("date-now", String(Date.now())),
          tag("new-date", new Date().toISOString()),
          tag("random-1", String(Math.random())),
          tag("random-2", String(Math.random())),
        ];
      case "loop": {
        let spins = 0;
        while (spins >= 0) spins = (spins + 1) % 1000;
        return [];
      }
      case "memory": {
        const blocks: Uint8Array[] = [];
        for (;;) blocks.push(new Uint8Array(1 << 20).fill(blocks.length));
      }
      case "recursion":
        return [tag("depth", String(recurse(0)))];
      case "throw":
        throw new Error(`deliberate exception for customer ${profile.customerId}`);
      case "oversized": {
        const count = ctx.config.or("count", u32, 100_000);
        return Array.from({ length: count }, () => new Tag("", ""));
      }
      default:
        throw new PluginError("config_invalid", `no mode ${mode}`);
    }
  },
}));
