/**
 * Northwind Bank — example single-page app for the token handler BFF.
 *
 * It talks only to the BFF (same origin by default, see the `bff-base-url`
 * meta tag) and never holds a token. All DOM is built with textContent;
 * API data is never parsed as HTML.
 */
import {
  BffError, StepUpRequired, fetchApi, handlePageLoad, isKnownErrorCode, login, logout, readError, session,
} from './bff-client/index.js';

const BANK_NAME = 'Northwind Bank';
const LOCALE = document.documentElement.lang || undefined;

const els = {
  view: document.getElementById('view'),
  status: document.getElementById('status'),
  error: document.getElementById('error'),
  userArea: document.getElementById('user-area'),
};

const state = {
  claims: null,
  accounts: [],
  selectedId: null,
  txRequest: 0,
  dom: {},
};

// ---------------------------------------------------------------------------
// small DOM helpers (no innerHTML anywhere)

/**
 * Create an element. `attrs` keys: `class`, `text`, `on<Event>` handlers,
 * `dataset`-style `data-*` names, booleans for properties like `disabled`,
 * anything else as an attribute.
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function announce(message) {
  // Clear first so the same message is announced again.
  els.status.textContent = '';
  window.setTimeout(() => {
    els.status.textContent = message;
  }, 50);
}

function showError(message) {
  els.error.textContent = message;
  els.error.hidden = false;
  if (typeof els.error.scrollIntoView === 'function') els.error.scrollIntoView({ block: 'nearest' });
}

function clearError() {
  els.error.textContent = '';
  els.error.hidden = true;
}

function setBusy(busy) {
  els.view.setAttribute('aria-busy', busy ? 'true' : 'false');
}

// ---------------------------------------------------------------------------
// formatting

const moneyFormats = new Map();

function formatMoney(value, currency = 'EUR', { signed = false } = {}) {
  const number = Number(value);
  if (value === null || value === undefined || value === '' || Number.isNaN(number)) return String(value ?? '');
  const key = `${currency}|${signed}`;
  if (!moneyFormats.has(key)) {
    try {
      moneyFormats.set(
        key,
        new Intl.NumberFormat(LOCALE, { style: 'currency', currency, signDisplay: signed ? 'exceptZero' : 'auto' }),
      );
    } catch {
      moneyFormats.set(key, new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
    }
  }
  // Newer engines format decimal strings exactly; older ones convert to Number.
  return moneyFormats.get(key).format(typeof value === 'string' ? value : number);
}

function formatDate(iso) {
  if (!iso) return '';
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(iso);
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return new Intl.DateTimeFormat(LOCALE, { dateStyle: 'medium', timeZone: dateOnly ? 'UTC' : undefined }).format(date);
}

/** What a customer reads for each error code: never the BFF's or the API's developer text. */
const MESSAGES = {
  network_error: (service) => `Can't reach ${service} right now. Please check your connection and try again in a moment.`,
  timeout: (service) => `${capitalize(service)} is taking too long to answer. Please try again in a moment.`,
  session_required: () => 'Your session has ended. Please sign in again.',
  session_expired: () => 'Your session has ended. Please sign in again.',
  csrf_failed: () => 'For your security this page needs to be reloaded. Please reload it and try again.',
  origin_not_allowed: () => 'This request was blocked to protect your account. Please reload the page and try again.',
  forbidden: () => 'This request was blocked to protect your account. Please reload the page and try again.',
  login_failed: () => 'Signing in did not work. Please try again.',
  login_transaction_used: () => 'This sign-in link was already used. Please sign in again.',
  login_transaction_missing: () => 'Your sign-in took too long or was started elsewhere. Please sign in again.',
  authorization_error: () => 'Signing in was cancelled or refused. Please try again.',
  store_unavailable: () => 'The service is temporarily unavailable. Please try again in a moment.',
  invalid_payment: () => 'The payment could not be sent. Please check the details and try again.',
  step_up_required: () => 'This needs a stronger sign-in. Please sign in again with your one-time code.',
  payment_not_approved: () => 'This payment is not the one you approved, or the approval was already used. Nothing was sent.',
  authorization_missing: () => 'The approval for this payment was already used or has expired. Nothing was sent.',
  not_found: () => 'That account could not be found. Please reload the page.',
};

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A message fit for a customer, chosen by error code, then by status; never raw error text. */
function friendlyMessage(err, service = 'the sign-in service') {
  if (!(err instanceof BffError)) return 'Something went wrong. Please reload the page and try again.';
  const byCode = Object.hasOwn(MESSAGES, err.code) ? MESSAGES[err.code] : null;
  if (byCode) return byCode(service);
  if (err.status === 0 || err.status === 404 || err.status === 405 || err.status === 501) return MESSAGES.network_error(service);
  if (err.status === 401) return MESSAGES.session_required();
  if (err.status === 403) return MESSAGES.forbidden();
  if (err.status === 502 || err.status === 504) return "Our banking systems aren't responding right now. Please try again in a moment.";
  if (err.status === 503) return MESSAGES.store_unavailable();
  if (err.status >= 500 || isKnownErrorCode(err.code)) return 'Something went wrong on our side. Please try again in a moment.';
  return 'The request could not be completed. Please check your details and try again.';
}

/**
 * IBAN check (ISO 13616): country code, check digits, up to 30 letters or digits, and the
 * mod-97 remainder of the rearranged number equal to 1.
 */
function ibanProblem(value) {
  const iban = value.replace(/[\s-]+/g, '').toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(iban)) return 'Enter an IBAN: two letters, two digits, then up to 30 letters or digits.';
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const digits = /\d/.test(ch) ? ch : String(ch.charCodeAt(0) - 55);
    for (const d of digits) remainder = (remainder * 10 + Number(d)) % 97;
  }
  return remainder === 1 ? null : 'This IBAN is not valid. Please check it for typing errors.';
}

// ---------------------------------------------------------------------------
// start-up

async function start() {
  let problem = null;
  let signInProblem = false;
  // taken out first: whatever happens below, a pending payment is resumed at most once
  const pending = takePendingPayment();
  let loaded = { handled: false };
  try {
    loaded = await handlePageLoad();
  } catch (err) {
    problem = err;
    signInProblem = err instanceof BffError && err.status >= 400 && err.status < 500 && err.status !== 404 && err.status !== 405;
  }

  let current = null;
  try {
    current = await session();
  } catch (err) {
    problem = problem || err;
  }

  if (current && current.isLoggedIn) {
    renderSignedIn(current);
    if (pending && loaded.handled && typeof loaded.purposeId === 'string') {
      resumeApprovedPayment(pending, loaded.purposeId);
    } else if (pending && problem && signInProblem) {
      showApprovalCancelled(pending, problem);
    } else if (problem && signInProblem) showError(`Sign-in didn't complete: ${friendlyMessage(problem)}`);
  } else {
    renderLanding();
    if (problem) {
      showError(signInProblem ? `Sign-in didn't complete. ${friendlyMessage(problem)}` : friendlyMessage(problem));
    }
  }
}

// ---------------------------------------------------------------------------
// signed out

function renderLanding(message) {
  state.claims = null;
  state.accounts = [];
  state.selectedId = null;
  els.userArea.replaceChildren();

  const button = h('button', { type: 'button', class: 'button button-primary button-large', 'data-testid': 'sign-in' }, 'Sign in');
  button.addEventListener('click', async () => {
    clearError();
    button.disabled = true;
    button.textContent = 'Redirecting…';
    announce('Redirecting to sign in');
    try {
      await login({ returnTo: window.location.pathname });
    } catch (err) {
      button.disabled = false;
      button.textContent = 'Sign in';
      showError(friendlyMessage(err));
    }
  });

  const view = h(
    'section',
    { class: 'landing', 'aria-labelledby': 'landing-heading' },
    h('div', { class: 'landing-card card' },
      h('h1', { id: 'landing-heading' }, BANK_NAME),
      h('p', { class: 'lead' }, 'Banking that keeps things simple. See your balances, follow your spending and send money in seconds.'),
      button,
      h('p', { class: 'fine-print' }, 'You sign in on our secure sign-in page. This app never sees your password or your access tokens.'),
    ),
  );
  els.view.replaceChildren(view);
  setBusy(false);
  if (message) showError(message);
}

function sessionEnded() {
  renderLanding('Your session has ended. Please sign in again.');
}

// ---------------------------------------------------------------------------
// signed in

function renderSignedIn(current) {
  state.claims = current.claims || {};
  const displayName = state.claims.name || state.claims.given_name || state.claims.preferred_username || state.claims.email || 'Customer';

  const signOut = h('button', { type: 'button', class: 'button button-ghost', 'data-testid': 'sign-out' }, 'Sign out');
  signOut.addEventListener('click', async () => {
    clearError();
    signOut.disabled = true;
    announce('Signing out');
    try {
      await logout();
    } catch (err) {
      signOut.disabled = false;
      if (err instanceof BffError && err.status === 401) sessionEnded();
      else showError(friendlyMessage(err));
    }
  });
  els.userArea.replaceChildren(
    h('span', { class: 'user-greeting' }, h('span', { class: 'visually-hidden' }, 'Signed in as '),
      h('span', { class: 'user-name', 'data-testid': 'user-name' }, displayName)),
    signOut,
  );

  const accountList = h('ul', { class: 'account-list', 'aria-label': 'Accounts' });
  const txTitle = h('p', { class: 'section-sub', id: 'tx-account' });
  const txBody = h('div', { class: 'tx-body', 'data-testid': 'transactions', 'aria-live': 'polite', 'aria-busy': 'false' });
  const confirmation = h('div', { class: 'confirmation', 'data-testid': 'payment-confirmation', tabindex: '-1', hidden: true });
  const approval = h('div', { class: 'approval', 'data-testid': 'payment-approval', tabindex: '-1', hidden: true });
  const form = buildPaymentForm();

  state.dom = { accountList, txTitle, txBody, confirmation, approval, form };

  const view = h('div', { class: 'dashboard' },
    h('h1', { class: 'page-title' }, `Welcome, ${displayName}`),
    h('div', { class: 'dashboard-grid' },
      h('section', { class: 'panel accounts-panel', 'aria-labelledby': 'accounts-heading' },
        h('h2', { id: 'accounts-heading' }, 'Your accounts'),
        accountList,
      ),
      h('section', { class: 'panel tx-panel card', 'aria-labelledby': 'tx-heading' },
        h('h2', { id: 'tx-heading', tabindex: '-1' }, 'Transactions'),
        txTitle,
        txBody,
      ),
      h('section', { class: 'panel pay-panel card', 'aria-labelledby': 'pay-heading' },
        h('h2', { id: 'pay-heading' }, 'Make a payment'),
        confirmation,
        approval,
        form,
      ),
    ),
  );
  els.view.replaceChildren(view);
  announce(`Signed in as ${displayName}`);
  loadAccounts();
}

/** Fetch JSON from the API; throws BffError; a 401 that survived a refresh ends the session. */
async function getJson(path) {
  const response = await fetchApi(path);
  if (!response.ok) throw await readError(response);
  return response.json();
}

function handleApiError(err) {
  if (err instanceof BffError && err.status === 401) {
    sessionEnded();
    return;
  }
  showError(friendlyMessage(err, BANK_NAME));
}

/** A panel's failure text with its own "Try again" button (focus moves to it if asked). */
function retryNotice(text, retry, { tag = 'p', focus = false } = {}) {
  const button = h('button', { type: 'button', class: 'button button-secondary button-small', 'data-testid': 'retry' }, 'Try again');
  button.addEventListener('click', () => retry());
  const notice = h(tag, { class: 'empty retry-notice' }, h('span', {}, text), ' ', button);
  if (focus) window.setTimeout(() => button.focus(), 0);
  return notice;
}

async function loadAccounts({ select, refocus = false } = {}) {
  setBusy(true);
  try {
    const data = await getJson('/api/accounts');
    state.accounts = Array.isArray(data.accounts) ? data.accounts : [];
    const wanted = select || state.selectedId;
    state.selectedId = state.accounts.some((a) => a.id === wanted) ? wanted : state.accounts[0]?.id ?? null;
    clearError();
    renderAccounts({ focusSelected: refocus });
    renderFromAccountOptions();
    if (state.selectedId) await loadTransactions(state.selectedId);
    else state.dom.txBody.replaceChildren(h('p', { class: 'empty' }, 'You have no accounts yet.'));
  } catch (err) {
    state.dom.accountList.replaceChildren(retryNotice('Accounts are not available right now.',
      () => loadAccounts({ select, refocus: true }), { tag: 'li', focus: refocus }));
    handleApiError(err);
  } finally {
    setBusy(false);
  }
}

function renderAccounts({ focusSelected = false } = {}) {
  const { accountList } = state.dom;
  if (!accountList) return;
  // the buttons are rebuilt: keep keyboard focus on the same account
  const focused = document.activeElement?.closest?.('[data-account-id]')?.getAttribute('data-account-id');
  if (state.accounts.length === 0) {
    accountList.replaceChildren(h('li', { class: 'empty' }, 'You have no accounts yet.'));
    return;
  }
  accountList.replaceChildren(
    ...state.accounts.map((account) => {
      const selected = account.id === state.selectedId;
      const button = h('button',
        {
          type: 'button',
          class: `account-card${selected ? ' is-selected' : ''}`,
          'data-testid': `account-${account.id}`,
          'data-account-id': account.id,
          'aria-pressed': selected ? 'true' : 'false',
        },
        h('span', { class: 'account-name' }, account.name || account.id),
        h('span', { class: 'account-iban' }, h('span', { class: 'visually-hidden' }, 'IBAN '), account.iban || ''),
        h('span', { class: 'account-balance' }, h('span', { class: 'visually-hidden' }, 'Balance '), formatMoney(account.balance, account.currency || 'EUR')),
      );
      button.addEventListener('click', () => selectAccount(account.id));
      return h('li', {}, button);
    }),
  );
  const refocus = focused ?? (focusSelected ? state.selectedId : null);
  if (refocus) accountList.querySelector(`[data-account-id="${CSS.escape(refocus)}"]`)?.focus();
}

function selectAccount(id) {
  if (state.selectedId === id) return;
  state.selectedId = id;
  renderAccounts();
  loadTransactions(id);
}

async function loadTransactions(id, { refocus = false } = {}) {
  const { txBody, txTitle } = state.dom;
  const request = ++state.txRequest;
  const account = state.accounts.find((a) => a.id === id);
  txTitle.textContent = account ? `${account.name} · ${account.iban}` : '';
  txBody.setAttribute('aria-busy', 'true');
  txBody.replaceChildren(h('p', { class: 'loading' }, 'Loading transactions…'));
  try {
    const data = await getJson(`/api/accounts/${encodeURIComponent(id)}/transactions`);
    if (request !== state.txRequest) return;
    clearError();
    renderTransactions(Array.isArray(data.transactions) ? data.transactions : [], account);
    if (refocus) document.getElementById('tx-heading')?.focus();
  } catch (err) {
    if (request !== state.txRequest) return;
    txBody.replaceChildren(retryNotice('Transactions are not available right now.',
      () => loadTransactions(id, { refocus: true }), { focus: refocus }));
    handleApiError(err);
  } finally {
    if (request === state.txRequest) txBody.setAttribute('aria-busy', 'false');
  }
}

function renderTransactions(transactions, account) {
  const { txBody } = state.dom;
  if (transactions.length === 0) {
    txBody.replaceChildren(h('p', { class: 'empty' }, 'No transactions yet.'));
    return;
  }
  const list = h('ol', { class: 'tx-list', 'aria-label': account ? `Transactions for ${account.name}` : 'Transactions' },
    ...transactions.map((tx) => {
      const amount = Number(tx.amount);
      const direction = amount > 0 ? 'amount-in' : amount < 0 ? 'amount-out' : '';
      return h('li', { class: 'tx-row', 'data-testid': `transaction-${tx.id}` },
        h('time', { class: 'tx-date', datetime: tx.bookedAt }, formatDate(tx.bookedAt)),
        h('span', { class: 'tx-description' }, tx.description || ''),
        h('span', { class: `tx-amount ${direction}` },
          formatMoney(tx.amount, tx.currency || account?.currency || 'EUR', { signed: true })),
      );
    }),
  );
  txBody.replaceChildren(list);
}

// ---------------------------------------------------------------------------
// payments

/** A labelled field with an optional hint and an error line right below the input. */
function field(label, input, hint) {
  const id = `f-${input.getAttribute('name')}`;
  input.id = id;
  const error = h('p', { class: 'field-error', id: `${id}-error`, 'data-testid': `error-${input.getAttribute('name')}`, hidden: true });
  const children = [h('label', { for: id }, label), input];
  const describedBy = [];
  if (hint) {
    describedBy.push(`${id}-hint`);
    children.push(h('p', { class: 'hint', id: `${id}-hint` }, hint));
  }
  describedBy.push(error.id);
  input.setAttribute('aria-describedby', describedBy.join(' '));
  children.push(error);
  return h('div', { class: 'field' }, ...children);
}

function setFieldError(input, message) {
  const error = document.getElementById(`${input.id}-error`);
  if (message) {
    input.setAttribute('aria-invalid', 'true');
    error.textContent = message;
    error.hidden = false;
  } else {
    input.removeAttribute('aria-invalid');
    error.textContent = '';
    error.hidden = true;
  }
}

const AMOUNT = /^\d{1,12}(\.\d{1,2})?$/;

/** Field problems before anything is sent: required fields, the IBAN checksum, the amount. */
function validatePayment(inputs, values) {
  const problems = new Map();
  if (!values.fromAccount) problems.set(inputs.fromAccount, 'Choose an account to pay from.');
  if (!values.toName) problems.set(inputs.toName, 'Enter the name of the person or company you are paying.');
  if (!values.toIban) problems.set(inputs.toIban, "Enter the recipient's IBAN.");
  else {
    const problem = ibanProblem(values.toIban);
    if (problem) problems.set(inputs.toIban, problem);
  }
  if (!values.amount) problems.set(inputs.amount, 'Enter an amount.');
  else if (!AMOUNT.test(values.amount) || Number(values.amount) <= 0) {
    problems.set(inputs.amount, 'Enter an amount greater than zero, like 25 or 25.50.');
  } else {
    const account = state.accounts.find((a) => a.id === values.fromAccount);
    if (account && Number(values.amount) > Number(account.balance)) {
      problems.set(inputs.amount, 'This is more than the balance of the account you pay from.');
    }
  }
  return problems;
}

function buildPaymentForm() {
  const fromAccount = h('select', { name: 'fromAccount', required: true });
  const toName = h('input', { name: 'toName', type: 'text', autocomplete: 'off', required: true, maxlength: '140' });
  const toIban = h('input', { name: 'toIban', type: 'text', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', required: true, class: 'mono' });
  const amount = h('input', { name: 'amount', type: 'text', inputmode: 'decimal', autocomplete: 'off', required: true, placeholder: '0.00' });
  const reference = h('input', { name: 'reference', type: 'text', autocomplete: 'off', maxlength: '140' });
  const pay = h('button', { type: 'submit', class: 'button button-primary', 'data-testid': 'pay' }, 'Send payment');
  const formError = h('div', { class: 'alert form-alert', role: 'alert', 'data-testid': 'payment-error', hidden: true });
  const inputs = { fromAccount, toName, toIban, amount };
  let sending = false;

  const form = h('form', { class: 'payment-form', 'data-testid': 'payment-form', novalidate: true, 'aria-labelledby': 'pay-heading' },
    field('From account', fromAccount),
    field('Recipient name', toName),
    field('Recipient IBAN', toIban, 'For example DE89 3704 0044 0532 0130 00'),
    field('Amount (EUR)', amount, 'Larger payments are confirmed with a one-time code.'),
    field('Reference (optional)', reference),
    formError,
    h('div', { class: 'form-actions' }, pay),
  );

  // a corrected field loses its error as soon as it is valid
  for (const input of Object.values(inputs)) {
    input.addEventListener('input', () => {
      if (input.getAttribute('aria-invalid') !== 'true') return;
      if (!validatePayment(inputs, readValues()).has(input)) setFieldError(input, null);
    });
  }

  function readValues() {
    return {
      fromAccount: fromAccount.value,
      toName: toName.value.trim(),
      toIban: toIban.value.replace(/[\s-]+/g, '').toUpperCase(),
      amount: amount.value.trim().replace(',', '.'),
      reference: reference.value.trim(),
    };
  }

  function showFormError(message) {
    formError.textContent = message;
    formError.hidden = false;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (sending) return;
    formError.hidden = true;
    state.dom.confirmation.hidden = true;
    state.dom.approval.hidden = true;

    const values = readValues();
    const problems = validatePayment(inputs, values);
    for (const input of Object.values(inputs)) setFieldError(input, problems.get(input) ?? null);
    if (problems.size > 0) {
      const first = [...Object.values(inputs)].find((input) => problems.has(input));
      first.focus();
      if (typeof first.scrollIntoView === 'function') first.scrollIntoView({ block: 'center' });
      announce(problems.size === 1 ? 'One field needs your attention' : `${problems.size} fields need your attention`);
      return;
    }

    const account = state.accounts.find((a) => a.id === values.fromAccount);
    const currency = account?.currency || 'EUR';
    // not `disabled`: a disabled button drops keyboard focus to <body>
    sending = true;
    pay.setAttribute('aria-disabled', 'true');
    pay.textContent = 'Sending…';
    form.setAttribute('aria-busy', 'true');
    announce('Sending payment');
    try {
      const payment = await sendPayment(values, currency);
      clearError();
      showConfirmation(payment, currency);
      toName.value = '';
      toIban.value = '';
      amount.value = '';
      reference.value = '';
      await loadAccounts({ select: values.fromAccount });
    } catch (err) {
      if (err instanceof StepUpRequired) offerApproval(values, currency, err);
      else if (err instanceof BffError && err.status === 401) sessionEnded();
      else {
        showFormError(friendlyMessage(err, BANK_NAME));
        // the message sits right above the button that still has focus; make sure it is seen
        if (typeof formError.scrollIntoView === 'function') formError.scrollIntoView({ block: 'nearest' });
      }
    } finally {
      sending = false;
      pay.removeAttribute('aria-disabled');
      pay.textContent = 'Send payment';
      form.removeAttribute('aria-busy');
    }
  });

  return form;
}

/** POST one payment; with `purposeId`, on the one-purpose token of its approval. Throws BffError. */
async function sendPayment(values, currency, purposeId) {
  const response = await fetchApi('/api/payments', {
    method: 'POST',
    headers: purposeId ? { 'X-BFF-Purpose': purposeId } : undefined,
    body: JSON.stringify({ ...values, currency }),
  });
  if (!response.ok) throw await readError(response);
  const data = await response.json();
  return data.payment || data;
}

// ---------------------------------------------------------------------------
// approving a larger payment: a second factor and consent to this exact payment (RFC 9396)

const PENDING_KEY = 'northwind.pendingPayment';
const PENDING_TTL_MS = 10 * 60 * 1000;

/** The payment's non-secret details, kept in this tab across the redirect: never a token. */
function savePendingPayment(values, currency) {
  try {
    window.sessionStorage.setItem(PENDING_KEY, JSON.stringify({ values, currency, savedAt: Date.now() }));
    return true;
  } catch {
    return false;
  }
}

/** The pending payment, removed from storage as it is read (it is resumed at most once). */
function takePendingPayment() {
  let raw = null;
  try {
    raw = window.sessionStorage.getItem(PENDING_KEY);
    window.sessionStorage.removeItem(PENDING_KEY);
  } catch {
    return null;
  }
  if (!raw) return null;
  try {
    const pending = JSON.parse(raw);
    const values = pending?.values;
    if (!values || typeof values !== 'object' || typeof pending.currency !== 'string') return null;
    if (!(Date.now() - Number(pending.savedAt) < PENDING_TTL_MS)) return null;
    for (const name of ['fromAccount', 'toName', 'toIban', 'amount', 'reference']) {
      if (typeof values[name] !== 'string') return null;
    }
    return pending;
  } catch {
    return null;
  }
}

/** "150" -> "150.00": the two-decimal amount the approval names. */
function twoDecimals(amount) {
  const [whole, fraction = ''] = amount.split('.');
  return `${whole.replace(/^0+(?=\d)/, '')}.${fraction.padEnd(2, '0')}`;
}

/** The RFC 9396 authorization_details of exactly this payment. */
function paymentDetails(values, currency) {
  const detail = {
    type: 'payment_initiation',
    instructedAmount: { amount: twoDecimals(values.amount), currency },
    creditorName: values.toName,
    creditorAccount: { iban: values.toIban },
  };
  if (values.reference) detail.remittanceInformationUnstructured = values.reference;
  return [detail];
}

function groupedIban(iban) {
  return iban.replace(/(.{4})(?=.)/g, '$1 ');
}

function paymentSummary(values, currency) {
  const rows = [
    ['Amount', formatMoney(twoDecimals(values.amount), currency), 'approval-amount'],
    ['To', values.toName, 'approval-name'],
    ['IBAN', groupedIban(values.toIban), 'approval-iban'],
  ];
  if (values.reference) rows.push(['Reference', values.reference, 'approval-reference']);
  return h('dl', { class: 'approval-summary' },
    ...rows.map(([term, value, testid]) => [h('dt', {}, term), h('dd', { 'data-testid': testid }, value)]));
}

/** The API asked for a stronger sign-in: say why, show the payment, and let the user choose. */
function offerApproval(values, currency, stepUp) {
  const { approval } = state.dom;
  const go = h('button', { type: 'button', class: 'button button-primary', 'data-testid': 'approve-payment' }, 'Continue to approve');
  const back = h('button', { type: 'button', class: 'button button-secondary', 'data-testid': 'cancel-approval' }, 'Not now');
  const problem = h('p', { class: 'alert', role: 'alert', hidden: true });
  approval.replaceChildren(
    h('h3', { id: 'approval-heading' }, 'Approve this payment'),
    h('p', { 'data-testid': 'approval-reason' },
      'For your security, larger payments need a second step. On our secure sign-in page you will enter the ' +
      'one-time code from your authenticator app and approve exactly this payment. Nothing is sent until you do.'),
    paymentSummary(values, currency),
    problem,
    h('div', { class: 'approval-actions' }, go, back),
  );
  approval.setAttribute('aria-labelledby', 'approval-heading');
  approval.hidden = false;
  approval.focus();
  announce('This payment needs your approval with a one-time code');

  back.addEventListener('click', () => {
    approval.hidden = true;
    state.dom.form.querySelector('[data-testid=pay]')?.focus();
    announce('Payment not sent');
  });
  go.addEventListener('click', async () => {
    problem.hidden = true;
    go.disabled = true;
    go.textContent = 'Redirecting…';
    announce('Redirecting to approve the payment');
    if (!savePendingPayment(values, currency)) {
      go.disabled = false;
      go.textContent = 'Continue to approve';
      problem.textContent = 'This browser does not let us keep the payment while you approve it. Please allow site storage and try again.';
      problem.hidden = false;
      return;
    }
    try {
      await login({
        acrValues: stepUp.acrValues.length > 0 ? stepUp.acrValues : undefined,
        maxAge: stepUp.maxAge,
        authorizationDetails: paymentDetails(values, currency),
        returnTo: window.location.pathname,
      });
    } catch (err) {
      takePendingPayment();
      go.disabled = false;
      go.textContent = 'Continue to approve';
      problem.textContent = friendlyMessage(err);
      problem.hidden = false;
    }
  });
}

/** Back from an approval: send the payment once, on its one-purpose token. */
async function resumeApprovedPayment(pending, purposeId) {
  const { values, currency } = pending;
  const { approval } = state.dom;
  approval.replaceChildren(
    h('h3', { id: 'approval-heading' }, 'Sending your approved payment…'),
    paymentSummary(values, currency),
  );
  approval.setAttribute('aria-labelledby', 'approval-heading');
  approval.hidden = false;
  announce('Sending your approved payment');
  try {
    const payment = await sendPayment(values, currency, purposeId);
    approval.hidden = true;
    clearError();
    showConfirmation(payment, currency);
    await loadAccounts({ select: values.fromAccount });
  } catch (err) {
    if (err instanceof BffError && err.status === 401 && !(err instanceof StepUpRequired)) sessionEnded();
    else showApprovalOutcome(pending, 'Payment not sent', friendlyMessage(err, BANK_NAME));
  }
}

/** The end of an approval that sent nothing, in the payment panel (the page banner is for
 * the page's own loading and would be cleared by it). */
function showApprovalOutcome(pending, title, message) {
  const { approval } = state.dom;
  approval.replaceChildren(
    h('h3', { id: 'approval-heading' }, title),
    h('p', { 'data-testid': 'approval-outcome', role: 'alert' }, message),
    paymentSummary(pending.values, pending.currency),
  );
  approval.setAttribute('aria-labelledby', 'approval-heading');
  approval.hidden = false;
  approval.focus();
}

/** Back from a cancelled or refused approval: still signed in, nothing paid. */
function showApprovalCancelled(pending, problem) {
  const refused = problem instanceof BffError && problem.code === 'authorization_error';
  showApprovalOutcome(pending, 'Payment not sent', refused
    ? 'You cancelled the approval, so this payment was not sent. You are still signed in.'
    : `The payment was not approved. ${friendlyMessage(problem)}`);
}

function renderFromAccountOptions() {
  const select = state.dom.form?.elements.namedItem('fromAccount');
  if (!select) return;
  const previous = select.value;
  select.replaceChildren(
    ...state.accounts.map((account) =>
      h('option', { value: account.id }, `${account.name} (${formatMoney(account.balance, account.currency || 'EUR')})`)),
  );
  if (state.accounts.some((a) => a.id === previous)) select.value = previous;
  else if (state.selectedId) select.value = state.selectedId;
}

function showConfirmation(payment, currency) {
  const { confirmation } = state.dom;
  const amountText = formatMoney(payment.amount, payment.currency || currency);
  confirmation.replaceChildren(
    h('h3', {}, 'Payment sent'),
    h('p', {},
      h('span', { class: 'confirmation-amount', 'data-testid': 'payment-amount' }, amountText),
      payment.toName ? ` to ${payment.toName}` : '',
      payment.status ? ` · ${payment.status}` : ''),
    h('p', { class: 'confirmation-id' }, 'Payment ID ', h('span', { class: 'mono', 'data-testid': 'payment-id' }, payment.id || '')),
  );
  confirmation.hidden = false;
  confirmation.focus();
  announce(`Payment of ${amountText} sent`);
}

start().catch(() => {
  renderLanding();
  showError('Something went wrong. Please reload the page and try again.');
});
