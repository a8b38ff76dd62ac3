/** Turns one of pino's JSON log lines into logfmt (`level=info msg="..." key=value`), as amproxy logs. */
export function jsonToLogfmt(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const parts: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (value === undefined) continue;
    parts.push(`${key}=${logfmtValue(value)}`);
  }
  return `${parts.join(" ")}\n`;
}

function isBare(text: string): boolean {
  if (text.length === 0) return false;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    // Spaces, quotes, '=', backslashes and control bytes need quoting (and escaping).
    if (code <= 0x20 || code === 0x22 || code === 0x3d || code === 0x5c || code === 0x7f) return false;
  }
  return true;
}

function logfmtValue(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return isBare(text) ? text : JSON.stringify(text);
}
