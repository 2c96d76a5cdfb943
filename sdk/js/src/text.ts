// Text as the Rust SDK writes it, so a plugin's reasons and errors read the
// same in every language.

/**
 * A string quoted and escaped as Rust's `{:?}` does: `"` and `\` escaped,
 * `\t`, `\r`, `\n`, `\0` by name, other control characters as `\u{..}`.
 */
export function debugString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\n") out += "\\n";
    else if (c === 0) out += "\\0";
    else if (c < 0x20 || (c >= 0x7f && c < 0xa0)) out += `\\u{${c.toString(16)}}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Orders strings as Rust orders `str` (by UTF-8 bytes, i.e. code points). */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length < 0 ? -1 : 1;
}

/** `"1 purchase"`, `"3 purchases"`. */
export function counted(n: number | bigint, one: string, many: string): string {
  return `${n} ${BigInt(n) === 1n ? one : many}`;
}
