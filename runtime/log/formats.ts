/** How log lines are written: logfmt (amproxy's, the default) or pino's JSON. */
export type LogFormat = "logfmt" | "json";

export const LOG_FORMATS: readonly LogFormat[] = ["logfmt", "json"];
