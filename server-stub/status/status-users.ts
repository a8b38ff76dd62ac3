import { createHash, timingSafeEqual } from "node:crypto";

/**
 * The status page's users, from `HOMEWARD_STATUS_AUTH="user:password,user2:password2"` (Netmet's
 * NETMET_AUTH format) or `--status-users`. Passwords follow Netmet's admin rule, made a little
 * stronger: at least 8 characters, with an upper-case letter, a lower-case letter and a digit.
 */
export interface StatusUser {
  readonly name: string;
  /** SHA-256 of `name:password`: the password itself is not kept. */
  readonly digest: Buffer;
}

export class StatusUsersError extends Error {
  override readonly name = "StatusUsersError";
}

export const MIN_PASSWORD_LENGTH = 8;

/** What is wrong with a password, in words that never quote it; undefined when it is good enough. */
export function passwordProblem(password: string): string | undefined {
  const missing: string[] = [];
  if (password.length < MIN_PASSWORD_LENGTH) missing.push(`at least ${MIN_PASSWORD_LENGTH} characters`);
  if (!/[A-Z]/.test(password)) missing.push("an upper-case letter");
  if (!/[a-z]/.test(password)) missing.push("a lower-case letter");
  if (!/[0-9]/.test(password)) missing.push("a digit");
  return missing.length === 0 ? undefined : `needs ${missing.join(", ")}`;
}

const USER_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

function credentialDigest(name: string, password: string): Buffer {
  return createHash("sha256").update(`${name}:${password}`, "utf8").digest();
}

/**
 * Parses `user:password,...` (the first `:` splits; a password may hold `:` but not `,`). Errors name
 * the user, or the entry's position when there is no user name to give, and never the password.
 */
export function parseStatusUsers(text: string): StatusUser[] {
  const users: StatusUser[] = [];
  const entries = text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  entries.forEach((entry, index) => {
    const colon = entry.indexOf(":");
    if (colon < 0) throw new StatusUsersError(`status user entry ${index + 1}: expected user:password`);
    const name = entry.slice(0, colon);
    const password = entry.slice(colon + 1);
    if (!USER_NAME.test(name)) {
      throw new StatusUsersError(
        `status user entry ${index + 1}: the user name must match [A-Za-z0-9_.@-]{1,64}`,
      );
    }
    if (users.some((user) => user.name === name))
      throw new StatusUsersError(`status user "${name}" is listed twice`);
    const problem = passwordProblem(password);
    if (problem !== undefined)
      throw new StatusUsersError(`status user "${name}": the password is too weak; it ${problem}`);
    users.push({ name, digest: credentialDigest(name, password) });
  });
  if (users.length === 0) throw new StatusUsersError("no status users: expected user:password,...");
  return users;
}

/**
 * Checks an `Authorization: Basic ...` header against every user. Both sides are hashed to the same
 * length and every user is compared, so neither the time taken nor an early exit tells how much of a
 * guess was right, or whether the user exists. Returns the user's name, or undefined.
 */
export function checkBasicAuth(users: readonly StatusUser[], header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1] as string, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  const given = credentialDigest(decoded.slice(0, colon), decoded.slice(colon + 1));
  let found: string | undefined;
  for (const user of users) {
    if (timingSafeEqual(given, user.digest) && found === undefined) found = user.name;
  }
  return found;
}
