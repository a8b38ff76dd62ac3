import { createHash } from "node:crypto";
import type { DeviceState, DeviceStatus } from "./device-board.ts";

/** The server-wide numbers shown above the device table. */
export interface ServerSummary {
  readonly nowMs: number;
  readonly startedMs: number;
  readonly accepted: number;
  readonly rejected: ReadonlyMap<string, number>;
  readonly carbonConnectionsUp: number;
  readonly carbonConnections: number;
  readonly queuedLines: number;
  readonly spoolLines: number;
  readonly authFileOk: boolean;
  readonly authKeys: number;
}

export const REFRESH_SECONDS = 10;
/** Past this, a device's last-seen cell is marked as stale. */
export const STALE_MS = 5 * 60_000;
/** Past this many seconds either way, the skew cell is marked. */
export const SKEW_WARN_SECONDS = 120;

export interface StatusJson {
  readonly server: Record<string, unknown>;
  readonly devices: readonly Record<string, unknown>[];
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

export function statusJson(summary: ServerSummary, devices: readonly DeviceStatus[]): StatusJson {
  return {
    server: {
      now: iso(summary.nowMs),
      started: iso(summary.startedMs),
      accepted: summary.accepted,
      rejected: Object.fromEntries(summary.rejected),
      carbon_connections_up: summary.carbonConnectionsUp,
      carbon_connections: summary.carbonConnections,
      queued_lines: summary.queuedLines,
      spool_lines: summary.spoolLines,
      auth_file_ok: summary.authFileOk,
      auth_keys: summary.authKeys,
    },
    devices: devices.map((device) => ({
      key_id: device.keyId,
      state: device.state,
      last_seen: iso(device.lastSeenMs),
      last_seen_age_s:
        device.lastSeenMs === undefined ? null : Math.round((summary.nowMs - device.lastSeenMs) / 1000),
      last_accepted: iso(device.lastAcceptedMs),
      lines_per_minute: device.acceptedPerMinute,
      rejected_per_minute: device.rejectedPerMinute,
      accepted: device.accepted,
      rejected: Object.fromEntries(device.rejected),
      rejected_total: device.rejectedTotal,
      clock_skew_s: device.skew
        ? {
            median: device.skew.median,
            min: device.skew.min,
            max: device.skew.max,
            samples: device.skew.samples,
          }
        : null,
      buffer: device.buffer
        ? {
            depth: device.buffer.depth,
            oldest_age_s: device.buffer.oldestAgeSeconds ?? null,
            reported_at: iso(device.buffer.timestamp * 1000),
          }
        : null,
    })),
  };
}

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char] as string);
}

const NUMBER = new Intl.NumberFormat("en-US");

export function formatCount(value: number): string {
  return NUMBER.format(value);
}

/** "45 s", "12 min", "3 h 5 min", "2 d 4 h": a span of time for people. */
export function formatSpan(seconds: number): string {
  const s = Math.round(Math.abs(seconds));
  if (s < 120) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) {
    const minutes = Math.round((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h${minutes ? ` ${minutes} min` : ""}`;
  }
  const hours = Math.round((s % 86_400) / 3600);
  return `${Math.floor(s / 86_400)} d${hours ? ` ${hours} h` : ""}`;
}

export function formatSkew(seconds: number): string {
  if (seconds === 0) return "0 s";
  return `${seconds > 0 ? "+" : "−"}${formatSpan(seconds)}`;
}

const STATE_LABELS: Readonly<Record<DeviceState, string>> = {
  active: "active",
  disabled: "disabled (revoked)",
  not_in_auth_file: "not in auth file",
  unidentified: "unreadable lines",
};

const STYLE = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:1.5rem;color:#1d2430;background:#f6f7f9}
h1{font-size:1.35rem;margin:0 0 .25rem}
p.summary{margin:.25rem 0 1rem;color:#3b4656}
p.summary span{margin-right:1.2rem;white-space:nowrap}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{padding:.5rem .7rem;text-align:left;vertical-align:top;border-bottom:1px solid #e3e6ea}
th{background:#eef1f5;font-weight:600;font-size:.85rem;text-transform:uppercase;letter-spacing:.03em;color:#4a5565}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.key{font-weight:600;font-family:ui-monospace,"DejaVu Sans Mono",monospace}
small{color:#6a7483}
td small,td span,ul.reasons li{white-space:nowrap}
ul.reasons{list-style:none;margin:0;padding:0;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.85rem}
.state{display:inline-block;padding:.05rem .45rem;border-radius:.7rem;font-size:.8rem;white-space:nowrap}
.state-active{background:#dff3e4;color:#17612c}
.state-disabled,.state-not_in_auth_file{background:#fde2e1;color:#8d1c17}
.state-unidentified{background:#eceff3;color:#4a5565}
.warn{color:#9a5b00;font-weight:600}
.bad{color:#b42318;font-weight:600}
.ok{color:#17612c}
footer{margin-top:1rem;color:#6a7483;font-size:.85rem}
`;

/** The CSP allows this one stylesheet by its hash, and nothing else: no script, no images. */
export const STYLE_HASH = `sha256-${createHash("sha256").update(STYLE).digest("base64")}`;
export const CONTENT_SECURITY_POLICY = `default-src 'none'; style-src '${STYLE_HASH}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

function lastSeenCell(device: DeviceStatus, nowMs: number): string {
  if (device.lastSeenMs === undefined) return `<td class="last-seen"><small>never</small></td>`;
  const ageMs = nowMs - device.lastSeenMs;
  const cls = ageMs > STALE_MS ? "warn" : "";
  return `<td class="last-seen"><span class="${cls}">${escapeHtml(formatSpan(ageMs / 1000))} ago</span><br><small>${escapeHtml(new Date(device.lastSeenMs).toISOString().replace("T", " ").slice(0, 19))} UTC</small></td>`;
}

function rejectedCell(device: DeviceStatus): string {
  if (device.rejectedTotal === 0) return `<td class="rejected num"><span class="ok">0</span></td>`;
  const reasons = [...device.rejected]
    .map(
      ([reason, count]) =>
        `<li data-reason="${escapeHtml(reason)}">${escapeHtml(reason)} <b>${formatCount(count)}</b></li>`,
    )
    .join("");
  return `<td class="rejected"><span class="bad">${formatCount(device.rejectedTotal)}</span>${
    device.rejectedPerMinute > 0 ? ` <small>(${formatCount(device.rejectedPerMinute)}/min)</small>` : ""
  }<ul class="reasons">${reasons}</ul></td>`;
}

function skewCell(device: DeviceStatus): string {
  if (!device.skew) return `<td class="skew num"><small>—</small></td>`;
  const { median, min, max, samples } = device.skew;
  const cls = Math.abs(median) > SKEW_WARN_SECONDS ? "warn" : "";
  const spread = min === max ? "" : `${formatSkew(min)} … ${formatSkew(max)}, `;
  const lines = `${spread}last ${samples} line${samples === 1 ? "" : "s"}`;
  return `<td class="skew num"><span class="${cls}">${escapeHtml(formatSkew(median))}</span><br><small>${escapeHtml(lines)}</small></td>`;
}

function bufferCell(device: DeviceStatus, nowMs: number): string {
  if (!device.buffer) return `<td class="buffer num"><small>—</small></td>`;
  const { depth, oldestAgeSeconds, timestamp } = device.buffer;
  const oldest =
    oldestAgeSeconds !== undefined && depth > 0
      ? `<br><span>oldest ${escapeHtml(formatSpan(oldestAgeSeconds))}</span>`
      : "";
  const reported = `reported ${escapeHtml(formatSpan(nowMs / 1000 - timestamp))} ago`;
  return `<td class="buffer num"><span class="${depth > 1000 ? "warn" : ""}">${formatCount(depth)} lines</span>${oldest}<br><small>${reported}</small></td>`;
}

function deviceRow(device: DeviceStatus, nowMs: number): string {
  const rate =
    device.lastSeenMs === undefined
      ? `<small>—</small>`
      : `${formatCount(device.acceptedPerMinute)}<br><small>${formatCount(device.accepted)} accepted</small>`;
  return [
    `<tr data-key-id="${escapeHtml(device.keyId)}" data-state="${device.state}">`,
    `<td class="key">${escapeHtml(device.keyId)}</td>`,
    `<td><span class="state state-${device.state}">${STATE_LABELS[device.state]}</span></td>`,
    lastSeenCell(device, nowMs),
    `<td class="rate num">${rate}</td>`,
    rejectedCell(device),
    skewCell(device),
    bufferCell(device, nowMs),
    "</tr>",
  ].join("");
}

export function statusHtml(summary: ServerSummary, devices: readonly DeviceStatus[]): string {
  let rejectedTotal = 0;
  for (const count of summary.rejected.values()) rejectedTotal += count;
  const carbonClass = summary.carbonConnectionsUp > 0 ? "ok" : "bad";
  const rows =
    devices.length > 0
      ? devices.map((device) => deviceRow(device, summary.nowMs)).join("\n")
      : `<tr><td colspan="7"><small>No keys in the auth file and no lines yet.</small></td></tr>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<title>homeward status</title>
<style>${STYLE}</style>
</head>
<body>
<h1>homeward server</h1>
<p class="summary">
<span>up ${escapeHtml(formatSpan((summary.nowMs - summary.startedMs) / 1000))}</span>
<span>accepted <b>${formatCount(summary.accepted)}</b></span>
<span>rejected <b class="${rejectedTotal > 0 ? "bad" : "ok"}">${formatCount(rejectedTotal)}</b></span>
<span>Carbon <b class="${carbonClass}">${summary.carbonConnectionsUp}/${summary.carbonConnections} up</b></span>
<span>waiting ${formatCount(summary.queuedLines)} in memory, ${formatCount(summary.spoolLines)} in the spool</span>
<span>auth file <b class="${summary.authFileOk ? "ok" : "bad"}">${summary.authFileOk ? "ok" : "broken (last good in use)"}</b>, ${summary.authKeys} keys</span>
</p>
<table>
<thead><tr><th>Device</th><th>State</th><th>Last seen</th><th>Lines/min</th><th>Rejected</th><th title="server time − line timestamp, median of the most recent accepted lines">Clock skew</th><th title="the agent's disk buffer, from its self.buffer metrics">Buffer backlog</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<footer>Refreshes every ${REFRESH_SECONDS} s. Server time ${escapeHtml(new Date(summary.nowMs).toISOString())}. Clock skew is server time − line timestamp: a few seconds is normal, minutes while an agent catches up from its buffer, negative when the device's clock is ahead. Also as <a href="status.json">status.json</a>.</footer>
</body>
</html>
`;
}
