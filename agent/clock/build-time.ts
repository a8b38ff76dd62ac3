/**
 * No clock earlier than this is trusted, whatever the sync check says: a Pi that boots without
 * network comes up at its last saved time, or at the OS image's build date.
 *
 * The release bundler replaces it with the real build time:
 *   esbuild --define:HOMEWARD_BUILD_TIME_SECONDS=$(date +%s)
 * Run from source, it is the date below; move it forward now and then, never past a real release.
 */
declare const HOMEWARD_BUILD_TIME_SECONDS: number | undefined;

/** 2026-11-01T00:00:00Z */
const SOURCE_DATE_SECONDS = 1_793_491_200;

export const BUILD_TIME_SECONDS: number =
  typeof HOMEWARD_BUILD_TIME_SECONDS === "number" ? HOMEWARD_BUILD_TIME_SECONDS : SOURCE_DATE_SECONDS;
