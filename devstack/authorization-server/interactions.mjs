// The dev AS's own interaction pages: sign-in, a second factor (TOTP, RFC 6238), consent that
// lists scopes and, for a payment, the exact payment (RFC 9396 `payment_initiation`).
//
// Server-rendered, accessible, no scripts and no external resources: every page is one HTML
// document with its own styles. Koa middleware on the provider's app, so the routes share the
// provider's cookies (`_interaction` is path-scoped to `/interaction/<uid>`).

import { matchingStep, otpauthUri, seedFor } from './totp.mjs';

export const ACR_PWD = 'urn:bff:acr:pwd';
export const ACR_MFA = 'urn:bff:acr:mfa';
export const PAYMENT_TYPE = 'payment_initiation';

const MAX_FORM = 16 * 1024;
const MAX_OTP_ATTEMPTS = 5;
const PENDING_TTL_MS = 5 * 60 * 1000;

const SCOPE_TEXT = {
  openid: 'Confirm who you are to the app',
  profile: 'Your name',
  email: 'Your email address',
  offline_access: 'Stay signed in while you are away',
  accounts: 'See your accounts, balances and transactions',
  payments: 'Send payments from your accounts',
};

export function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

const STYLE = `
:root { color-scheme: light; --ink:#1b2430; --muted:#5a6675; --brand:#0b4f8a; --line:#d5dbe3; --bg:#f3f5f8; --bad:#a4161a; }
* { box-sizing: border-box; }
body { margin:0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
header { background:var(--brand); color:#fff; padding:.75rem 1.5rem; display:flex; align-items:center; gap:.75rem; }
header .logo { width:2rem; height:2rem; border-radius:.4rem; background:#fff; color:var(--brand); font-weight:700; display:grid; place-items:center; }
main { max-width:30rem; margin:2rem auto; background:#fff; border:1px solid var(--line); border-radius:.75rem; padding:1.75rem; }
h1 { font-size:1.4rem; margin:0 0 .5rem; }
p.lead { color:var(--muted); margin-top:0; }
label { display:block; font-weight:600; margin:1rem 0 .25rem; }
input[type=text], input[type=password] { width:100%; padding:.65rem .75rem; font-size:1rem; border:1px solid #8a96a6; border-radius:.4rem; }
input:focus, button:focus { outline:3px solid #f2b705; outline-offset:2px; }
.actions { display:flex; gap:.75rem; margin-top:1.5rem; flex-wrap:wrap; }
button { font-size:1rem; padding:.65rem 1.25rem; border-radius:.4rem; border:1px solid var(--brand); cursor:pointer; }
button.primary { background:var(--brand); color:#fff; }
button.secondary { background:#fff; color:var(--brand); }
.error { color:var(--bad); border-left:4px solid var(--bad); padding:.25rem .75rem; background:#fdecec; }
.hint { color:var(--muted); font-size:.9rem; }
ul.scopes { padding-left:1.2rem; }
dl.payment { display:grid; grid-template-columns:max-content 1fr; gap:.35rem 1rem; border:2px solid var(--brand); border-radius:.5rem; padding:1rem; margin:1rem 0; }
dl.payment dt { font-weight:600; }
dl.payment dd { margin:0; overflow-wrap:anywhere; }
dd.amount { font-size:1.3rem; font-weight:700; }
footer { text-align:center; color:var(--muted); font-size:.8rem; margin-bottom:2rem; }
`;

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Example Bank</title><style>${STYLE}</style></head>
<body><header><span class="logo" aria-hidden="true">EB</span><span>Example Bank</span></header>
<main>${body}</main><footer>Development authorization server: never use in production.</footer></body></html>`;
}

function errorBlock(message) {
  return message ? `<p class="error" role="alert" id="form-error">${escapeHtml(message)}</p>` : '';
}

function cancelForm(uid) {
  return `<form method="post" action="/interaction/${escapeHtml(uid)}/abort" id="cancel"></form>`;
}

function loginPage(uid, { loginHint, error, clientName, reason }) {
  return page('Sign in', `
<h1>Sign in</h1>
<p class="lead">to continue to <strong>${escapeHtml(clientName)}</strong></p>
${reason ? `<p class="hint" id="reason">${escapeHtml(reason)}</p>` : ''}
${errorBlock(error)}
<form method="post" action="/interaction/${escapeHtml(uid)}" autocomplete="on">
  <input type="hidden" name="prompt" value="login">
  <label for="login">User name</label>
  <input type="text" id="login" name="login" required autocomplete="username" autocapitalize="off" spellcheck="false" value="${escapeHtml(loginHint)}"${error ? ' aria-describedby="form-error"' : ''}>
  <label for="password">Password</label>
  <input type="password" id="password" name="password" required autocomplete="current-password">
  <div class="actions">
    <button type="submit" class="primary">Continue</button>
    <button type="submit" class="secondary" form="cancel">Cancel</button>
  </div>
</form>
${cancelForm(uid)}`);
}

function otpPage(uid, { error, reason }) {
  return page('Second factor', `
<h1>Confirm it is you</h1>
<p class="lead">Enter the 6-digit code from your authenticator app.</p>
${reason ? `<p class="hint" id="reason">${escapeHtml(reason)}</p>` : ''}
${errorBlock(error)}
<form method="post" action="/interaction/${escapeHtml(uid)}">
  <input type="hidden" name="prompt" value="otp">
  <label for="otp">One-time code</label>
  <input type="text" id="otp" name="otp" required inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code"${error ? ' aria-describedby="form-error"' : ''}>
  <div class="actions">
    <button type="submit" class="primary">Verify</button>
    <button type="submit" class="secondary" form="cancel">Cancel</button>
  </div>
</form>
${cancelForm(uid)}`);
}

function paymentBlock(detail) {
  const amount = detail.instructedAmount ?? {};
  const creditor = detail.creditorName ?? '';
  const iban = detail.creditorAccount?.iban ?? '';
  return `<dl class="payment" aria-label="Payment to approve" data-testid="payment-details">
  <dt>Amount</dt><dd class="amount" id="payment-amount">${escapeHtml(amount.amount)} ${escapeHtml(amount.currency)}</dd>
  <dt>To</dt><dd id="payment-creditor">${escapeHtml(creditor)}</dd>
  <dt>IBAN</dt><dd id="payment-iban">${escapeHtml(iban)}</dd>
  <dt>Reference</dt><dd id="payment-reference">${escapeHtml(detail.remittanceInformationUnstructured ?? '')}</dd>
</dl>`;
}

function consentPage(uid, { clientName, scopes, payments }) {
  const items = scopes.map((s) => `<li>${escapeHtml(SCOPE_TEXT[s] ?? s)}</li>`).join('');
  const paying = payments.length > 0;
  return page(paying ? 'Approve payment' : 'Allow access', `
<h1>${paying ? 'Approve this payment' : 'Allow access'}</h1>
<p class="lead"><strong>${escapeHtml(clientName)}</strong> asks to:</p>
${items ? `<ul class="scopes">${items}</ul>` : ''}
${payments.map(paymentBlock).join('')}
${paying ? '<p class="hint">Only this exact payment can be made with your approval, and only once.</p>' : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}">
  <input type="hidden" name="prompt" value="consent">
  <div class="actions">
    <button type="submit" class="primary">${paying ? 'Approve payment' : 'Allow'}</button>
    <button type="submit" class="secondary" form="cancel">Cancel</button>
  </div>
</form>
${cancelForm(uid)}`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_FORM) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function requestedDetails(params) {
  if (typeof params.authorization_details !== 'string') return [];
  try {
    const parsed = JSON.parse(params.authorization_details);
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

function requestedAcrs(params) {
  return typeof params.acr_values === 'string' ? params.acr_values.split(' ').filter(Boolean) : [];
}

// Why this login needs a second factor, or '' when a password is enough.
export function mfaReason(params) {
  if (requestedDetails(params).some((d) => d?.type === PAYMENT_TYPE)) {
    return 'Approving a payment needs your password and a one-time code.';
  }
  if (requestedAcrs(params).includes(ACR_MFA)) {
    return 'This action needs a stronger sign-in: your password and a one-time code.';
  }
  return '';
}

function send(ctx, status, html) {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('cache-control', 'no-store');
  ctx.set('x-frame-options', 'DENY');
  // no form-action: browsers apply it to the redirects after a post, to the client's origin
  ctx.set('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'");
  ctx.body = html;
}

// A second-factor check in the login prompt: `acr_values` asking for MFA, or a payment, needs
// a login that ended with the MFA acr (a payment: a fresh one, in this very authorization).
export function addStepUpChecks(policy, Check) {
  const login = policy.get('login');
  login.checks.push(new Check('acr_mfa_required', 'a second factor is required', (ctx) => {
    const { oidc } = ctx;
    const payment = requestedDetails(oidc.params).some((d) => d?.type === PAYMENT_TYPE);
    if (payment) return oidc.result?.login?.acr === ACR_MFA ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    if (!requestedAcrs(oidc.params).includes(ACR_MFA)) return Check.NO_NEED_TO_PROMPT;
    return oidc.acr === ACR_MFA ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  }));
}

export function interactionRoutes(provider, { seedKey, totpPeriod, log, issuerLabel = 'Example Bank' }) {
  const pending = new Map(); // uid -> {accountId, expires, attempts}
  const lastStep = new Map(); // accountId -> last accepted TOTP step (RFC 6238 §5.2: no reuse)

  function announceCode(accountId) {
    const seed = seedFor(seedKey, accountId);
    log(`[as] second factor for ${accountId}: ${otpauthUri(issuerLabel, accountId, seed, totpPeriod)}`);
  }

  async function finish(ctx, result, { merge = false } = {}) {
    // consent keeps the login of this authorization (the payment check reads result.login)
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.status = 303;
    ctx.set('cache-control', 'no-store');
    ctx.redirect(to);
  }

  async function show(ctx, details, extra = {}) {
    const { uid, prompt, params } = details;
    const client = await provider.Client.find(params.client_id);
    const clientName = client?.clientName || params.client_id;
    const stage = pending.get(uid);
    if (prompt.name === 'login' && stage && stage.expires > Date.now()) {
      send(ctx, extra.status ?? 200, otpPage(uid, { error: extra.error, reason: mfaReason(params) }));
      return;
    }
    if (prompt.name === 'login') {
      send(ctx, extra.status ?? 200, loginPage(uid, {
        loginHint: extra.login ?? params.login_hint ?? '', error: extra.error, clientName,
        reason: mfaReason(params),
      }));
      return;
    }
    if (prompt.name === 'consent') {
      const scopes = [...new Set(String(params.scope || '').split(' ').filter(Boolean))];
      const payments = requestedDetails(params).filter((d) => d?.type === PAYMENT_TYPE);
      send(ctx, 200, consentPage(uid, { clientName, scopes, payments }));
      return;
    }
    send(ctx, 400, page('Error', '<h1>Something went wrong</h1><p>Unknown step.</p>'));
  }

  async function submit(ctx, details) {
    const form = await readForm(ctx.req);
    const { uid, prompt, params } = details;
    const step = form.get('prompt');
    if (prompt.name === 'login' && step === 'login') {
      const login = (form.get('login') || '').trim();
      const password = form.get('password') || '';
      if (!login || login.length > 200 || !password) {
        await show(ctx, details, { status: 400, error: 'Enter your user name and password.', login });
        return;
      }
      if (!mfaReason(params)) {
        await finish(ctx, { login: { accountId: login, acr: ACR_PWD, amr: ['pwd'], remember: true } });
        return;
      }
      pending.set(uid, { accountId: login, expires: Date.now() + PENDING_TTL_MS, attempts: 0 });
      announceCode(login);
      ctx.status = 303;
      ctx.redirect(`/interaction/${uid}`);
      return;
    }
    if (prompt.name === 'login' && step === 'otp') {
      const stage = pending.get(uid);
      if (!stage || stage.expires <= Date.now()) {
        pending.delete(uid);
        await show(ctx, details, { status: 400, error: 'Your sign-in took too long. Sign in again.' });
        return;
      }
      const seed = seedFor(seedKey, stage.accountId);
      const matched = matchingStep(seed, form.get('otp') || '', Date.now() / 1000, { period: totpPeriod });
      const last = lastStep.get(stage.accountId) ?? -1;
      if (matched === null || matched <= last) {
        stage.attempts += 1;
        if (stage.attempts >= MAX_OTP_ATTEMPTS) {
          pending.delete(uid);
          await finish(ctx, { error: 'access_denied', error_description: 'too many wrong codes' });
          return;
        }
        await show(ctx, details, { status: 400, error: 'That code is not right. Wait for a new code and try again.' });
        return;
      }
      lastStep.set(stage.accountId, matched);
      pending.delete(uid);
      await finish(ctx, { login: { accountId: stage.accountId, acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'], remember: true } });
      return;
    }
    if (prompt.name === 'consent' && step === 'consent') {
      await finish(ctx, { consent: { grantId: await grantFor(details) } }, { merge: true });
      return;
    }
    await show(ctx, details, { status: 400, error: 'Please use the form on this page.' });
  }

  async function grantFor(details) {
    const { prompt: { details: missing }, params, session, grantId } = details;
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    // authorization_details are not kept in the long-lived grant: a payment approval is for
    // this one authorization only (see authorizationDetailsForGrantSource in server.mjs)
    return grant.save();
  }

  return async function interactions(ctx, next) {
    const match = /^\/interaction\/([A-Za-z0-9_-]{1,64})(\/abort)?$/.exec(ctx.path);
    if (!match) {
      await next();
      return;
    }
    let details;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch {
      send(ctx, 400, page('Sign-in expired', '<h1>This sign-in has expired</h1><p>Go back to the app and start again.</p>'));
      return;
    }
    if (details.uid !== match[1]) {
      send(ctx, 400, page('Error', '<h1>Something went wrong</h1><p>This page belongs to another sign-in.</p>'));
      return;
    }
    if (match[2]) {
      if (ctx.method !== 'POST' && ctx.method !== 'GET') {
        ctx.status = 405;
        return;
      }
      pending.delete(details.uid);
      await finish(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' });
      return;
    }
    if (ctx.method === 'GET') {
      await show(ctx, details);
    } else if (ctx.method === 'POST') {
      await submit(ctx, details);
    } else {
      ctx.status = 405;
    }
  };
}
