// The web console in a real browser: Debian's Chromium, driven by
// playwright-core. tests/tests/console_browser.rs starts a sidecar, seeds
// it (a version blocked at dev by baseline.provenance) and runs this with:
//   GATEHOUSE_URL   the sidecar, e.g. http://127.0.0.1:8420
//   DEV_TOKEN, APPROVER_TOKEN, RM_TOKEN   tokens of three different people
//   APP, VERSION    the blocked version
//   SCREENSHOTS     optional: a folder to save a picture of each page into
// It exits non-zero (with the failed assertion) when the console misbehaves.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('GATEHOUSE_URL');
const app = env('APP');
const version = env('VERSION');
const shots = process.env.SCREENSHOTS;
if (shots) mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // As the machine's probe found: without these Chromium reaches for
  // Google's hosts at start, which a closed network refuses.
  args: ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

const problems = [];

/// A person with their own browser profile (cookies), signed in by typing
/// their token and pressing Enter, as a keyboard user would.
async function signIn(token, who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`${who}: page error ${e.message}`));
  page.on('console', (m) => {
    // A CSP violation is reported on the console: there must be none.
    if (m.type() === 'error') problems.push(`${who}: console error: ${m.text()}`);
  });
  page.on('response', (r) => {
    // Every answer is meant: a 4xx or 5xx is a broken link or a missing asset.
    if (r.status() >= 400) problems.push(`${who}: ${r.status()} for ${r.url()}`);
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(base)) problems.push(`${who}: a request left the sidecar: ${r.url()}`);
  });
  await page.goto(`${base}/ui/`);
  assert.equal(new URL(page.url()).pathname, '/ui/login', 'no session: sent to sign in');
  await shot(page, 'login');
  await page.getByLabel('API token').fill(token);
  await page.getByLabel('API token').press('Enter');
  await page.waitForURL(`${base}/ui/`);
  await page.getByText(`Signed in as ${who}`).waitFor();
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'gatehouse_session');
  assert.ok(session, 'a session cookie');
  assert.equal(session.httpOnly, true, 'HttpOnly');
  assert.equal(session.sameSite, 'Strict', 'SameSite=Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'no script can read the session');
  return { context, page };
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function signOut(page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/ui/login`);
}

try {
  // 1. A developer finds the blocked version and reads the remediation.
  const dev = await signIn(env('DEV_TOKEN'), 'dana');
  let page = dev.page;
  const board = page.getByRole('table', { name: `Versions of ${app} by stage` });
  await board.waitFor();
  await shot(page, 'applications');
  await board.getByRole('link', { name: version, exact: true }).click();
  await page.getByRole('heading', { name: `${app}@${version}`, level: 1 }).waitFor();
  await page.getByRole('heading', { name: /Gate dev\/entry: blocked/ }).waitFor();
  const remediation = page.locator('.remediation').first();
  assert.match(await remediation.innerText(), /^Remediation: .+/);
  await page.getByText('[BASELINE-PROV-1]').first().waitFor();
  await shot(page, 'version-blocked');

  // 2. They ask for a waiver from the blocked check, with the keyboard.
  await page.getByText('Request a waiver').first().click();
  await page.getByLabel('Justification').fill('The provenance step lands with build 1.0.1; this build was reviewed by hand.');
  await page.getByRole('button', { name: 'Request' }).press('Enter');
  await page.waitForURL(new RegExp(`/ui/applications/${app}/versions/`));
  await page.getByText(/requested — gate dev\/entry/).waitFor();
  // A developer may not decide a waiver: no Approve button for them.
  await page.goto(`${base}/ui/waivers`);
  assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0);
  await signOut(page);
  await dev.context.close();

  // 3. Another person, an approver, approves it.
  const approver = await signIn(env('APPROVER_TOKEN'), 'ann');
  page = approver.page;
  await page.getByRole('link', { name: 'Waivers' }).click();
  await page.getByRole('button', { name: 'Approve' }).first().waitFor();
  await shot(page, 'waivers');
  await page.getByLabel('Note').first().fill('Fine for one week.');
  await page.getByRole('button', { name: 'Approve' }).first().click();
  await page.waitForURL(`${base}/ui/waivers`);
  await page.getByText('approved').first().waitFor();
  await signOut(page);
  await approver.context.close();

  // 4. A release manager promotes it through every stage and releases it.
  const rm = await signIn(env('RM_TOKEN'), 'rita');
  page = rm.page;
  await page.goto(`${base}/ui/applications/${encodeURIComponent(app)}/versions/${encodeURIComponent(version)}`);
  for (const stage of ['dev', 'qa', 'staging', 'prod']) {
    await page.getByRole('heading', { name: `Next: promote to ${stage}` }).waitFor();
    if (stage === 'dev') await shot(page, 'version-next-move');
    await page.getByRole('button', { name: `Promote to ${stage}` }).click();
    await page.getByRole('definition').filter({ hasText: new RegExp(`^${stage}$`) }).waitFor();
  }
  await page.getByRole('button', { name: 'Release' }).click();
  await page.getByRole('link', { name: 'Trusted Release record: verify' }).click();

  // 5. The record's verify view: every check of `gatehouse verify` passes.
  await page.getByText('Verified: every check').waitFor();
  const rows = page.getByRole('table', { name: /The checks of gatehouse verify/ }).getByRole('row');
  assert.equal(await rows.count(), 5, 'a header and four checks');
  for (let i = 1; i < 5; i++) {
    assert.equal(await rows.nth(i).getByRole('cell').nth(1).innerText(), 'pass');
  }
  await shot(page, 'record');

  // The other pages, for the pictures and to see they render in a browser.
  await page.getByRole('link', { name: 'Vulnerabilities' }).click();
  await page.getByLabel(/advisory/i).fill('PYSEC-2019-217');
  await page.getByLabel(/advisory/i).press('Enter');
  await page.getByRole('heading', { name: 'Blast radius of PYSEC-2019-217' }).waitFor();
  await shot(page, 'vulnerabilities');
  await page.getByRole('link', { name: 'Policies' }).click();
  await page.getByRole('heading', { name: 'Policies and bindings', level: 1 }).waitFor();
  await shot(page, 'policies');
  await page.getByLabel('Gate plan of the application').fill(app);
  await page.getByLabel('Gate plan of the application').press('Enter');
  await page.getByRole('heading', { name: `Gate plan of ${app}`, level: 1 }).waitFor();
  await page.getByRole('heading', { name: 'Gate prod/release' }).waitFor();
  await shot(page, 'gate-plan');
  await page.getByRole('link', { name: 'Activity' }).click();
  await page.getByRole('button', { name: 'Verify the whole chain now' }).click();
  await page.getByText('The chain verifies').waitFor();
  await shot(page, 'activity');
  await rm.context.close();
} finally {
  await browser.close();
}
assert.deepEqual(problems, [], 'no page error, console error or request off the sidecar');
console.log('console flow passed in Chromium');
