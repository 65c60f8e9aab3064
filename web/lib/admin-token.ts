// The admin token in the browser: asked for once, kept in sessionStorage (this tab only,
// gone when it closes), sent as "Authorization: Bearer <token>" by the UI's admin actions.
// `make up` prints the token; it is kept in .run/secrets/admin-token.
//
//   const r = await withAdminToken((headers) => fetch(url, { method: "POST", headers }));
//
// A 401 forgets the stored token and asks again once; cancelling the question aborts.

const KEY = "eventify-admin-token";

export class AdminTokenMissing extends Error {
  constructor() {
    super("An admin token is needed for this action");
  }
}

export function storedAdminToken(): string | null {
  try {
    return window.sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function forgetAdminToken(): void {
  try {
    window.sessionStorage.removeItem(KEY);
  } catch {
    /* storage disabled: nothing kept */
  }
}

/** Keeps token for this tab (the Admin page's form and the prompt below both do). */
export function keepAdminToken(token: string): void {
  try {
    window.sessionStorage.setItem(KEY, token);
  } catch {
    /* storage disabled: used for this action only */
  }
}

function askAdminToken(): string | null {
  const given = window.prompt("Admin token (printed by `make up`, kept in .run/secrets/admin-token):");
  const token = given?.trim() ?? "";
  if (!token) return null;
  keepAdminToken(token);
  return token;
}

/** The headers of an admin request; X-Eventify-Client tells the service the UI made it. */
export function adminHeaders(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}`, "X-Eventify-Client": "ui" };
}

/** Runs action with the admin headers, asking for the token when none is stored or when the
 * stored one is refused (HTTP 401). Throws AdminTokenMissing when the user gives none. */
export async function withAdminToken<T extends { status: number }>(
  action: (headers: Record<string, string>) => Promise<T>,
): Promise<T> {
  let token = storedAdminToken() ?? askAdminToken();
  if (!token) throw new AdminTokenMissing();
  const first = await action(adminHeaders(token));
  if (first.status !== 401) return first;
  forgetAdminToken();
  token = askAdminToken();
  if (!token) throw new AdminTokenMissing();
  return action(adminHeaders(token));
}
