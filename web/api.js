// Reads the public JSON API. Never throws: a missing endpoint (404), a server error or a dropped
// connection is an answer the views render in words, so the page never breaks.

/**
 * @param {string} path
 * @returns {Promise<{ ok: true, body: any } | { ok: false, status: number, error?: string }>}
 */
export async function getJson(path) {
  try {
    const response = await fetch(path, { headers: { accept: 'application/json' } });
    if (!response.ok) return { ok: false, status: response.status };
    return { ok: true, body: await response.json() };
  } catch (err) {
    return { ok: false, status: 0, error: String(err) };
  }
}

/** Why an answer is missing, in words. */
export function unavailable(result, what) {
  if (result.status === 404) return `${what} is not available on this server yet.`;
  if (result.status === 0)
    return `${what} could not be reached. The page will keep trying when you come back.`;
  return `${what} could not be loaded (HTTP ${result.status}).`;
}
