// Browser test of the Latchkey dashboard in real headless Chromium.
//
// dashboard/e2e_test.go starts a real `latchkey serve` and runs this file
// with:
//   LATCHKEY_URL        the server's base URL
//   ADMIN_EMAIL/ADMIN_PASSWORD   an admin who belongs to two tenants
//   USER2_EMAIL/USER2_PASSWORD   a second, non-admin user
//   SCREENSHOT_DIR      where screenshots go
//   CHROMIUM            the browser binary (default /usr/bin/chromium)
// It exits non-zero on the first failed check.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const base = need("LATCHKEY_URL");
const admin = { email: need("ADMIN_EMAIL"), password: need("ADMIN_PASSWORD") };
const user2 = { email: need("USER2_EMAIL"), password: need("USER2_PASSWORD") };
const shots = process.env.SCREENSHOT_DIR || "screenshots";
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
mkdirSync(shots, { recursive: true });

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const args = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const profiles = [];
const contexts = [];

// A fresh browser with its own profile directory (cookies, storage).
async function browser(viewport = { width: 1280, height: 860 }) {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-e2e-"));
  profiles.push(dir);
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath, args, headless: true, viewport, baseURL: base,
    timeout: 60_000,
  });
  contexts.push(ctx);
  ctx.setDefaultTimeout(15_000);
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.on("pageerror", (err) => { console.error("page error:", err); process.exitCode = 1; });
  page.on("console", (msg) => { if (msg.type() === "error") console.error("console error:", msg.text()); });
  return { ctx, page };
}

let step = 0;
async function check(name, fn) {
  step++;
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok ${step} - ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    console.log(`not ok ${step} - ${name}`);
    throw err;
  }
}

async function shot(page, name, opts = {}) {
  const path = join(shots, name + ".png");
  await page.screenshot({ path, fullPage: opts.fullPage ?? true, ...opts });
  console.log(`# screenshot ${path}`);
}

async function signIn(page, who) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL("**/settings/api-keys");
}

// whoami calls the API with a key, as an application would.
async function whoami(key) {
  const res = await fetch(new URL("/api/v1/users/me", base), { headers: { Authorization: `Bearer ${key}` } });
  return { status: res.status, body: await res.json() };
}

async function createKey(page, { name, env = "live", permissions = [], tenants = [], expires = "", rateLimit = "" }) {
  await page.goto("/settings/api-keys/new");
  await page.getByLabel("Label").fill(name);
  await page.locator(`input[name=environment][value=${env}]`).check();
  for (const p of permissions) {
    const box = page.locator(`input[name=permission][value="${p}"]`);
    if (await box.count()) await box.check();
    else await page.getByLabel("Permissions").fill(permissions.join(", "));
  }
  for (const t of tenants) await page.locator(`input[name=tenant][value="${t}"]`).check();
  if (expires) await page.getByLabel("Expires").selectOption(expires);
  if (rateLimit) await page.locator("#rate_limit").fill(rateLimit);
  await page.getByRole("button", { name: "Create key" }).click();
  const dialog = page.locator("dialog#reveal");
  await dialog.waitFor({ state: "visible" });
  return (await page.locator("#new-secret").inputValue()).trim();
}

const keyShape = /^[a-z0-9]{1,12}_(live|test)_[0-9A-Za-z]{32}$/;

try {
  const { ctx, page } = await browser();
  let key, keyId;

  await check("the sign-in page renders", async () => {
    await page.goto("/");
    await page.waitForURL("**/login");
    await assert.doesNotReject(page.getByRole("heading", { name: "Sign in" }).waitFor());
    await shot(page, "01-sign-in");
  });

  await check("a wrong password gets a human error", async () => {
    await page.getByLabel("Email").fill(admin.email);
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();
    assert.match(await page.getByRole("alert").innerText(), /do not match an account/);
  });

  await check("the admin signs in and sees the empty state", async () => {
    await signIn(page, admin);
    await page.getByRole("heading", { name: "No API keys yet" }).waitFor();
    const cookies = await ctx.cookies();
    const session = cookies.find((c) => c.name === "latchkey_session");
    assert.ok(session, "no session cookie");
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, "Lax");
    await shot(page, "02-api-keys-empty");
  });

  await check("the create form shows the catalog, tenants, expiry and rate limit", async () => {
    await page.getByRole("link", { name: "+ Create your first key" }).click();
    await page.getByRole("heading", { name: "Create an API key" }).waitFor();
    assert.ok(await page.locator("input[name=permission]").count() > 0, "no permission checkboxes");
    assert.equal(await page.locator("input[name=tenant]").count(), 2);
    await page.getByLabel("Label").fill("Production backend");
    await page.locator("input[name=permission][value='messages:send']").check();
    await shot(page, "03-create-key");
  });

  await check("creating a key reveals it once in a dialog", async () => {
    key = await createKey(page, {
      name: "Production backend", permissions: ["messages:send", "messages:read"], tenants: ["acme"], rateLimit: "600",
    });
    assert.match(key, keyShape);
    const dialog = page.locator("dialog#reveal");
    assert.match(await dialog.innerText(), /you will not see it again/i);
    assert.equal(await dialog.evaluate((d) => d.matches(":modal")), true, "the reveal dialog is not modal");
    await page.getByRole("button", { name: "Copy API key" }).click();
    await page.locator(".copy-status").filter({ hasText: /./ }).waitFor();
    await shot(page, "04-reveal-dialog", { fullPage: false });
    assert.ok(!page.url().includes(key), "the key is in the URL");
    const cookies = await ctx.cookies();
    assert.ok(!cookies.some((c) => c.value.includes(key)), "the key is in a cookie");
  });

  await check("the revealed key works: GET /api/v1/users/me is 200", async () => {
    const { status, body } = await whoami(key);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.key.name, "Production backend");
    assert.equal(body.tenant.id, "acme");
    keyId = body.key.id;
  });

  await check("after closing the dialog the list shows the key masked only", async () => {
    await page.getByRole("link", { name: "I have saved it" }).click();
    await page.waitForURL("**/settings/api-keys");
    const row = page.locator(`tr[data-key-id="${keyId}"]`);
    await row.waitFor();
    const masked = key.slice(0, key.lastIndexOf("_") + 9) + "...";
    assert.equal((await row.locator("code.masked").innerText()).trim(), masked);
    assert.ok(!(await page.content()).includes(key), "the full key is still on the page");
    // A few more keys, so the list looks like a real account.
    for (const k of [
      { name: "Staging worker", env: "test", permissions: ["messages:send", "webhooks:manage"], tenants: ["globex"], expires: "30d" },
      { name: "Analytics export", permissions: ["messages:read"], tenants: ["acme", "globex"] },
    ]) {
      await createKey(page, k);
      await page.getByRole("link", { name: "I have saved it" }).click();
    }
    await page.waitForURL("**/settings/api-keys");
    await page.locator("tr[data-key-id]").nth(2).waitFor();
    await whoami(key); await whoami(key); // some usage to show
    await page.waitForTimeout(1500); // usage counters reach the database
    await page.reload();
    await shot(page, "05-api-keys");
  });

  await check("the tenant switcher filters the list", async () => {
    await page.getByLabel("Tenant").selectOption("globex");
    await page.waitForURL(/tenant=globex/);
    const names = await page.locator("tr[data-key-id] .name").allInnerTexts();
    assert.deepEqual(names.sort(), ["Analytics export", "Staging worker"]);
    await page.getByLabel("Tenant").selectOption("");
    await page.waitForURL((u) => !u.search.includes("tenant=globex"));
    assert.equal(await page.locator("tr[data-key-id]").count(), 3);
  });

  await check("revoking in the UI asks for confirmation in a dialog", async () => {
    const row = page.locator(`tr[data-key-id="${keyId}"]`);
    await row.getByText("Actions").click();
    await row.getByRole("link", { name: "Revoke…" }).click();
    const dialog = page.locator("dialog#confirm-dialog");
    await dialog.getByRole("heading", { name: "Revoke this key?" }).waitFor();
    assert.equal(await dialog.evaluate((d) => d.matches(":modal")), true);
    await shot(page, "06-confirm-revoke", { fullPage: false });
    await dialog.getByRole("button", { name: "Revoke key" }).click();
    await page.getByRole("status").filter({ hasText: "revoked" }).waitFor();
    assert.equal((await row.locator("[data-status]").innerText()).trim(), "Revoked");
  });

  await check("the revoked key is refused: 401 KEY_REVOKED", async () => {
    const { status, body } = await whoami(key);
    assert.equal(status, 401);
    assert.equal(body.error.code, "KEY_REVOKED");
  });

  await check("the confirmation also works as a page without JavaScript", async () => {
    const other = (await page.locator("tr[data-key-id]").first().getAttribute("data-key-id"));
    await page.goto(`/settings/api-keys/${other}/rotate`);
    await page.getByRole("heading", { name: "Rotate this key?" }).waitFor();
    await page.getByLabel("The old key stops working").selectOption("1h");
    await page.getByRole("button", { name: "Rotate key" }).click();
    const rotated = (await page.locator("#new-secret").inputValue()).trim();
    assert.match(rotated, keyShape);
    assert.equal((await whoami(rotated)).status, 200);
    await page.getByRole("link", { name: "I have saved it" }).click();
  });

  await check("CSRF: posts without the token are refused with 403", async () => {
    const statuses = await page.evaluate(async (id) => {
      const form = await fetch(`/settings/api-keys/${id}/delete`, { method: "POST", body: new URLSearchParams({}) });
      const api = await fetch("/api/v1/auth/api-keys", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: "no token" }),
      });
      const token = document.querySelector("meta[name=csrf-token]").content;
      const ok = await fetch("/api/v1/auth/api-keys", {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
        body: JSON.stringify({ name: "From the JSON API", environment: "test" }),
      });
      return [form.status, api.status, (await api.json()).error.code, ok.status];
    }, keyId);
    assert.deepEqual(statuses, [403, 403, "FORBIDDEN", 201]);
  });

  await check("admin pages", async () => {
    for (const [path, heading, name] of [
      ["/admin/usage", "Usage", "07-admin-usage"],
      ["/admin/tenants", "Tenants", "08-admin-tenants"],
      ["/admin/users", "Users", "09-admin-users"],
      ["/admin/permissions", "Permissions", "10-admin-permissions"],
      ["/admin/oauth-clients", "OAuth clients", "11-admin-oauth-clients"],
      ["/admin/audit-log", "Audit log", null],
    ]) {
      await page.goto(path);
      await page.getByRole("heading", { name: heading, exact: true }).waitFor();
      if (name) await shot(page, name);
    }
    await page.goto("/admin/root-keys");
    await page.getByLabel("Name").fill("CI verify");
    await page.locator("input[name=scope][value='keys:verify']").check();
    await page.getByRole("button", { name: "Create root key" }).click();
    const root = (await page.locator("#new-secret").inputValue()).trim();
    assert.match(root, /^[a-z0-9]{1,12}_root_[0-9A-Za-z]{32}$/);
    await shot(page, "12-admin-root-key-reveal", { fullPage: false });
  });

  await check("keyboard: the first Tab reaches the skip link, and focus is visible", async () => {
    await page.goto("/settings/api-keys");
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement?.textContent?.trim());
    assert.equal(focused, "Skip to content");
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, "none");
  });

  await check("a narrow window (375px) has no horizontal scrolling", async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    for (const [path, name] of [
      ["/settings/api-keys", "13-narrow-api-keys"],
      ["/settings/api-keys/new", "14-narrow-create-key"],
      ["/admin/users", null],
    ]) {
      await page.goto(path);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} overflows by ${overflow}px at 375px`);
      if (name) await shot(page, name);
    }
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  await check("signing out ends the session", async () => {
    await page.goto("/settings/api-keys");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL("**/login?signed_out=1");
    await page.getByText("You have signed out.").waitFor();
    await page.goto("/settings/api-keys");
    await page.waitForURL("**/login?next=*");
  });
  await ctx.close();

  await check("a second user never sees the first user's keys", async () => {
    const { ctx: ctx2, page: p2 } = await browser();
    await signIn(p2, user2);
    const body = await p2.content();
    for (const name of ["Production backend", "Staging worker", "Analytics export", keyId]) {
      assert.ok(!body.includes(name), `user 2 sees ${name}`);
    }
    const list = await p2.evaluate(async () => (await fetch("/api/v1/auth/api-keys")).json());
    assert.deepEqual(list, []);
    const res = await p2.goto(`/settings/api-keys/${keyId}/delete`);
    assert.equal(res.status(), 404);
    const adminRes = await p2.goto("/admin/users");
    assert.equal(adminRes.status(), 403);
    await p2.getByRole("heading", { name: "Admins only" }).waitFor();
    await shot(p2, "15-not-admin");
    await ctx2.close();
  });

  console.log(`# ${step} checks passed; screenshots in ${shots}`);
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  for (const c of contexts) await c.close().catch(() => {});
  for (const d of profiles) rmSync(d, { recursive: true, force: true });
  process.exit(process.exitCode ?? 0);
}
