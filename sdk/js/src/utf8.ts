// UTF-8 by hand, for every engine: QuickJS has no TextDecoder or
// TextEncoder, and a frame's strings are mostly short and ASCII, where a
// loop over the bytes costs less than a call into either.

/** Thrown for bytes that are not UTF-8. */
export class Utf8Error extends Error {}

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
 * writes it.
 */
export function encodeUtf8Into(s: string, buf: Uint8Array, at: number): void {
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
}
