// UTF-8 for every engine, done natively where the engine can: a loop in
// JavaScript costs QuickJS some 1,900 wasm instructions per character
// (issue 26: writing the answers' strings was half of a coffee decision),
// a native call about 360 per character of a whole string.
// - Node and SpiderMonkey have TextEncoder and TextDecoder.
// - QuickJS has neither, but it has btoa/atob and Uint8Array's base64
//   methods (fromBase64, toBase64), and the URI functions, which between
//   them turn text into UTF-8 and back: encodeURIComponent writes a
//   string's UTF-8 as %XX escapes, unescape makes each a character of a
//   "binary" string (one byte per character), btoa and fromBase64 make
//   those bytes; decoding reverses it, with decodeURIComponent refusing
//   what is not UTF-8.
// - Anything else: the loops below (also what every path is tested against).

/** Thrown for bytes that are not UTF-8. */
export class Utf8Error extends Error {}

/** A frame's string table: the strings' UTF-8 back to back, and where each ends. */
export interface Table {
  readonly bytes: Uint8Array;
  readonly ends: number[];
}

/** A way to turn text into UTF-8 and back. */
export interface Codec {
  readonly name: "web" | "base64" | "js";
  /** `s` as UTF-8, a lone surrogate as U+FFFD. */
  encode(s: string): Uint8Array;
  /** The string table of `strings`, each encoded as `encode` does. */
  table(strings: readonly string[]): Table;
  /** `bytes[start..end]` decoded; throws [`Utf8Error`] unless it is UTF-8. */
  decode(bytes: Uint8Array, start: number, end: number): string;
}

/** The loops below: for an engine with nothing native. */
export const JS_CODEC: Codec = {
  name: "js",
  encode(s) {
    const bytes = new Uint8Array(utf8Length(s));
    encodeUtf8Into(s, bytes, 0);
    return bytes;
  },
  table: (strings) => writeTable(strings, encodeUtf8Into),
  decode: decodeUtf8,
};

/**
 * A string table written string by string into room for 3 bytes per UTF-16
 * unit, `write` returning where each string's bytes end.
 */
function writeTable(strings: readonly string[], write: (s: string, bytes: Uint8Array, at: number) => number): Table {
  let size = 0;
  for (const s of strings) size += 3 * s.length;
  const bytes = new Uint8Array(size);
  const ends: number[] = [];
  let end = 0;
  for (const s of strings) ends.push((end = write(s, bytes, end)));
  return { bytes: bytes.subarray(0, end), ends };
}

/** TextEncoder and a fatal TextDecoder, where the engine has them. */
export function webCodec(): Codec | undefined {
  if (typeof TextEncoder !== "function" || typeof TextDecoder !== "function") return undefined;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  return {
    name: "web",
    encode: (s) => encoder.encode(s),
    table: (strings) => writeTable(strings, (s, bytes, at) => at + encoder.encodeInto(s, bytes.subarray(at)).written),
    decode(bytes, start, end) {
      try {
        return decoder.decode(bytes.subarray(start, end));
      } catch (e) {
        throw new Utf8Error((e as Error).message);
      }
    },
  };
}

/** What the base64 codec needs of an engine (ES2026's Uint8Array base64 methods, and btoa/atob). */
interface Base64Natives {
  fromBase64: (text: string) => Uint8Array;
  toBase64: (bytes: Uint8Array) => string;
  btoa: (binary: string) => string;
  atob: (base64: string) => string;
}

/** A byte past ASCII, in a binary string (one byte per character). */
const NOT_ASCII = /[\u0080-\u00ff]/;

/**
 * UTF-8 through base64 and the URI functions, for QuickJS (see the top of
 * this file); `natives` are the engine's own unless given (tests give Node's).
 * A string table is each string made a binary string (its length is its
 * UTF-8's), the binary strings joined, and the whole made bytes at once.
 */
export function base64Codec(natives: Base64Natives | undefined = engineBase64()): Codec | undefined {
  if (natives === undefined) return undefined;
  const { fromBase64, toBase64, btoa, atob } = natives;
  // `s` as a binary string of its UTF-8.
  const binaryOf = (s: string): string => {
    let binary: string;
    try {
      // Legacy, but the one native way from %XX to a byte per character.
      // eslint-disable-next-line @typescript-eslint/no-deprecated
      binary = unescape(encodeURIComponent(s));
    } catch {
      // A lone surrogate, which encodeURIComponent refuses: the loop writes U+FFFD.
      const bytes = JS_CODEC.encode(s);
      binary = "";
      for (let i = 0; i < bytes.length; i += CHUNK) {
        binary += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK) as unknown as number[]);
      }
    }
    return binary;
  };
  return {
    name: "base64",
    encode: (s) => fromBase64(btoa(binaryOf(s))),
    table(strings) {
      const all = strings.join("");
      const whole = binaryOf(all);
      const ends: number[] = [];
      let end = 0;
      if (whole.length === all.length) {
        // As many bytes as UTF-16 units: every string is ASCII.
        for (const s of strings) ends.push((end += s.length));
        return { bytes: fromBase64(btoa(whole)), ends };
      }
      // A string is its own binary string where it is ASCII (compared
      // natively); the others are made binary to be measured.
      for (const s of strings) {
        end += whole.slice(end, end + s.length) === s ? s.length : binaryOf(s).length;
        ends.push(end);
      }
      if (end === whole.length) return { bytes: fromBase64(btoa(whole)), ends };
      // Not the whole's bytes: a lone surrogate ending one string and one
      // starting the next made a pair in it (or a string of Latin-1 letters
      // read as bytes compared equal). Each string on its own.
      const binaries = strings.map(binaryOf);
      end = 0;
      ends.length = 0;
      for (const b of binaries) ends.push((end += b.length));
      return { bytes: fromBase64(btoa(binaries.join(""))), ends };
    },
    decode(bytes, start, end) {
      const binary = atob(toBase64(bytes.subarray(start, end)));
      if (!NOT_ASCII.test(binary)) return binary;
      let text: string;
      try {
        // eslint-disable-next-line @typescript-eslint/no-deprecated
        text = decodeURIComponent(escape(binary));
      } catch {
        // Not UTF-8: the loop says where and why.
        return decodeUtf8(bytes, start, end);
      }
      return text;
    },
  };
}

function engineBase64(): Base64Natives | undefined {
  const u8 = Uint8Array as unknown as { fromBase64?: (text: string) => Uint8Array };
  const proto = Uint8Array.prototype as unknown as { toBase64?: (this: Uint8Array) => string };
  const g = globalThis as unknown as { btoa?: (s: string) => string; atob?: (s: string) => string };
  const { fromBase64 } = u8;
  const { toBase64 } = proto;
  const { btoa, atob } = g;
  if (fromBase64 === undefined || toBase64 === undefined || btoa === undefined || atob === undefined) return undefined;
  return {
    fromBase64: (text) => fromBase64.call(Uint8Array, text),
    toBase64: (bytes) => toBase64.call(bytes),
    btoa,
    atob,
  };
}

/** The engine's best codec, chosen once. */
export const CODEC: Codec = webCodec() ?? base64Codec() ?? JS_CODEC;

/** The string table of `strings` (see `Codec.table`). */
export function encodeStrings(strings: readonly string[], codec: Codec = CODEC): Table {
  return strings.length === 0 ? { bytes: new Uint8Array(0), ends: [] } : codec.table(strings);
}

/** The code units of one chunk, handed to `String.fromCharCode` at once. */
const CHUNK = 4096;

/** `bytes[start..end]` decoded; throws [`Utf8Error`] unless it is UTF-8. */
export function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  // ASCII, the common case: one call.
  let i = start;
  while (i < end && bytes[i]! < 0x80) i++;
  if (i === end) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  const units: number[] = [];
  let out = "";
  for (i = start; i < end; ) {
    const b0 = bytes[i]!;
    let code: number;
    if (b0 < 0x80) {
      code = b0;
      i += 1;
    } else if (b0 >= 0xc2 && b0 < 0xe0) {
      code = ((b0 & 0x1f) << 6) | continuation(bytes, i + 1, end);
      i += 2;
    } else if (b0 >= 0xe0 && b0 < 0xf0) {
      code = ((b0 & 0x0f) << 12) | (continuation(bytes, i + 1, end) << 6) | continuation(bytes, i + 2, end);
      if (code < 0x800 || (code >= 0xd800 && code < 0xe000)) throw new Utf8Error(`an invalid sequence at byte ${i}`);
      i += 3;
    } else if (b0 >= 0xf0 && b0 < 0xf5) {
      code =
        ((b0 & 0x07) << 18) |
        (continuation(bytes, i + 1, end) << 12) |
        (continuation(bytes, i + 2, end) << 6) |
        continuation(bytes, i + 3, end);
      if (code < 0x10000 || code > 0x10ffff) throw new Utf8Error(`an invalid sequence at byte ${i}`);
      i += 4;
    } else {
      throw new Utf8Error(`an invalid byte 0x${b0.toString(16)} at byte ${i}`);
    }
    if (code < 0x10000) {
      units.push(code);
    } else {
      code -= 0x10000;
      units.push(0xd800 | (code >> 10), 0xdc00 | (code & 0x3ff));
    }
    if (units.length >= CHUNK) {
      out += String.fromCharCode.apply(null, units);
      units.length = 0;
    }
  }
  return out + String.fromCharCode.apply(null, units);
}

function continuation(bytes: Uint8Array, at: number, end: number): number {
  const b = at < end ? bytes[at]! : 0;
  if ((b & 0xc0) !== 0x80) throw new Utf8Error(`a missing continuation byte at byte ${at}`);
  return b & 0x3f;
}

/** How many bytes `s` takes in UTF-8 (a lone surrogate as U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * Writes `s` as UTF-8 into `buf` from `at` (which has room for
 * [`utf8Length`] bytes); a lone surrogate becomes U+FFFD, as TextEncoder
 * writes it. Returns where the writing ended.
 */
export function encodeUtf8Into(s: string, buf: Uint8Array, at: number): number {
  let o = at;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[o++] = c;
      continue;
    }
    if (c < 0x800) {
      buf[o++] = 0xc0 | (c >> 6);
      buf[o++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c < 0xe000) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c < 0xdc00 && (next & 0xfc00) === 0xdc00) {
        const code = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        buf[o++] = 0xf0 | (code >> 18);
        buf[o++] = 0x80 | ((code >> 12) & 0x3f);
        buf[o++] = 0x80 | ((code >> 6) & 0x3f);
        buf[o++] = 0x80 | (code & 0x3f);
        i++;
        continue;
      }
      c = 0xfffd;
    }
    buf[o++] = 0xe0 | (c >> 12);
    buf[o++] = 0x80 | ((c >> 6) & 0x3f);
    buf[o++] = 0x80 | (c & 0x3f);
  }
  return o;
}
