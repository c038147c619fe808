#!/usr/bin/env node
// An ordinary (non-admin) FX user and a token for it, created once through the admin REST API and kept
// in a 0600 file: the built-in endpoint of `npm start` and the docker-compose endpoint run with it, never
// with the admin token (code on an endpoint must not be able to act as an admin).
//   node scripts/user-token.mjs <url> <admin-token-file> <user-name> <out-file>
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Returns the token kept in `file`, creating the user and token first when the file does not exist. */
export async function ensureUserToken({ url, adminToken, name, file }) {
  if (existsSync(file)) {
    chmodSync(file, 0o600);
    return readFileSync(file, 'utf8').trim();
  }
  const api = async (method, path, body) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json = await res.json().catch(() => ({}));
    return { status: res.status, json };
  };
  let created = await api('POST', '/v1/users', { name, admin: false });
  let user = created.json;
  if (created.status === 409) {
    const list = await api('GET', '/v1/users');
    user = (Array.isArray(list.json) ? list.json : (list.json.items ?? [])).find((u) => u.name === name);
  } else if (created.status >= 300) {
    throw new Error(`could not create the user "${name}": ${created.status} ${JSON.stringify(created.json)}`);
  }
  if (!user?.id) throw new Error(`could not find the user "${name}"`);
  if (user.admin) throw new Error(`the user "${name}" is an admin; pick another name for the endpoint's user`);
  const issued = await api('POST', `/v1/users/${user.id}/tokens`, { name: `${name} endpoint` });
  if (issued.status >= 300) throw new Error(`could not create a token for "${name}": ${issued.status} ${JSON.stringify(issued.json)}`);
  writeFileSync(file, issued.json.token + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return issued.json.token;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [url, adminTokenFile, name, file] = process.argv.slice(2);
  if (!url || !adminTokenFile || !name || !file) {
    console.error('usage: node scripts/user-token.mjs <url> <admin-token-file> <user-name> <out-file>');
    process.exit(2);
  }
  for (let i = 0; i < 120 && !existsSync(adminTokenFile); i++) await new Promise((r) => setTimeout(r, 1000));
  await ensureUserToken({ url, adminToken: readFileSync(adminTokenFile, 'utf8').trim(), name, file });
  console.log(`the token of user "${name}" is in ${file}`);
}
