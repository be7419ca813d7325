/**
 * A parser for the Python literals in a .npy header: dicts, tuples, lists, strings, ints,
 * True/False/None. numpy writes these with `repr`, so no expressions, escapes beyond `\\` and quotes,
 * or floats need handling; old (Python 2) files may write ints as `3L`.
 */

/** A parsed literal: tuples and lists become arrays, dicts become plain objects. */
export type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

/** Parse one Python literal; throws an Error naming the position on anything else. */
export function parsePyLiteral(text: string): PyValue {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`${what} at ${i}`);
  };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === "{") return seq("}", true) as { [key: string]: PyValue };
    if (c === "(") return seq(")", false) as PyValue[];
    if (c === "[") return seq("]", false) as PyValue[];
    if (c === "'" || c === '"') return str();
    const m = /^(True|False|None|-?\d+L?)/.exec(text.slice(i, i + 32));
    if (!m) return fail("unexpected character");
    i += m[0].length;
    if (m[0] === "True") return true;
    if (m[0] === "False") return false;
    if (m[0] === "None") return null;
    return Number.parseInt(m[0], 10);
  };
  const str = (): string => {
    const q = text[i++];
    let s = "";
    while (i < text.length && text[i] !== q) {
      if (text[i] === "\\") i++;
      s += text[i++];
    }
    if (text[i] !== q) fail("unterminated string");
    i++;
    return s;
  };
  // Comma-separated items up to `close`, trailing comma allowed (`(3,)`, `{..., }`).
  const seq = (close: string, isDict: boolean): PyValue[] | { [key: string]: PyValue } => {
    i++;
    const items: PyValue[] = [];
    const obj: { [key: string]: PyValue } = {};
    for (;;) {
      ws();
      if (text[i] === close) {
        i++;
        return isDict ? obj : items;
      }
      if (isDict) {
        const k = value();
        if (typeof k !== "string") fail("non-string dict key");
        ws();
        if (text[i++] !== ":") fail("expected ':'");
        obj[k as string] = value();
      } else items.push(value());
      ws();
      if (text[i] === ",") i++;
      else if (text[i] !== close) fail(`expected ',' or '${close}'`);
    }
  };
  const v = value();
  ws();
  if (i < text.length) fail("trailing characters");
  return v;
}
