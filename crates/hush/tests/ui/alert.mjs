// Scenario "alert": alice's app talks to a hostile proxy that answers for bob with a device
// the key directory does not vouch for. Sending to @bob must raise an alert shown in a top
// banner (role="alert") AND in the conversation, and the composer must refuse to send until
// alice acknowledges it.
//
// Run: node alert.mjs (from this directory, after `npm ci`). Environment:
//   HUSH_UI_ALICE       one-time URL of alice's `hush ui` (pointed at the proxy by the Rust side)
//   HUSH_UI_SHOTS       where the screenshots go (alert.png, alert-acknowledged.png)
//   HUSH_UI_PEER        who to write to (default bob)
//   If alice's app has no account yet: HUSH_SERVER (the URL typed at onboarding) and
//   HUSH_UI_USER (default alice) register one. If it is locked: HUSH_UI_PASSPHRASE unlocks it.
// Exit 0: every step passed. Exit 1: "FAIL alert: <step>: <why>" on stderr.
import { run, env, until, textOf, open, register } from './lib.mjs';

const peer = env('HUSH_UI_PEER', 'bob');
const user = env('HUSH_UI_USER', 'alice');

await run('alert', async (t) => {
  const page = await t.person(user);

  await t.step(`${user}'s app opens with the account`, async () => {
    await open(page, env('HUSH_UI_ALICE'));
    const h1 = await textOf(page.locator('main h1').first());
    if (h1 === 'Welcome to hush') {
      await register(t, page, { server: env('HUSH_SERVER'), username: user, passphrase: env('HUSH_UI_PASSPHRASE', `${user} likes long walks on quiet beaches`) });
    } else if (h1 === 'Unlock hush') {
      await page.getByLabel('Passphrase').fill(env('HUSH_UI_PASSPHRASE', process.env.HUSH_PASSPHRASE));
      await page.getByRole('button', { name: 'Unlock' }).click();
    }
    await page.getByRole('heading', { level: 1, name: 'Conversations', exact: true }).waitFor();
  });

  const banner = page.locator('#alert-banner').getByRole('alert');
  await t.step(`sending to @${peer} raises an alert`, async () => {
    await page.getByLabel('Their username').fill(peer);
    await page.getByLabel('First message').fill(`Hello ${peer}, is this really you?`);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await until(async () => (await dialog.isVisible()) || (await banner.count()) > 0, `neither "${peer} is new to you" nor an alert appeared`);
    if (await dialog.isVisible()) await dialog.getByRole('button', { name: `Yes, message ${peer}`, exact: true }).click();
    await banner.first().waitFor();
  });

  await t.step('the alert is in the banner and in the conversation', async () => {
    const inBanner = await textOf(banner.first());
    if (!/Security alert/.test(inBanner)) throw new Error(`the banner says "${inBanner}"`);
    await page.getByRole('heading', { level: 1, name: peer, exact: true }).waitFor();
    const inChat = page.getByTestId('conversation-alert');
    await inChat.first().waitFor();
    const text = await textOf(inChat.first().locator('.alert-text'));
    if (!text || !inBanner.includes(text)) throw new Error(`the conversation's alert ("${text}") is not the banner's ("${inBanner}")`);
  });

  await t.step('the composer refuses to send until the alert is acknowledged', async () => {
    const sendBtn = page.getByRole('button', { name: 'Send', exact: true });
    await page.getByLabel('Message', { exact: true }).fill('Sending anyway?');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    const disabled = await sendBtn.isDisabled();
    const note = await textOf(page.locator('#composer-note'));
    if (!disabled) throw new Error('the Send button is enabled while the alert is not acknowledged');
    if (!/acknowledge/i.test(note)) throw new Error(`the composer does not say why it refuses: "${note}"`);
    if (await page.getByRole('list', { name: 'Messages' }).getByText('Sending anyway?').count()) throw new Error('the message was sent despite the alert');
    await t.shot(page, 'alert.png');
  });

  await t.step('acknowledging clears the banner and unblocks the composer', async () => {
    for (let n = await banner.count(); n > 0; n = await banner.count()) {
      await banner.first().getByRole('button', { name: /^Acknowledge/ }).click();
      await until(async () => (await banner.count()) < n, 'the banner still shows the alert after acknowledging');
    }
    await until(async () => page.getByRole('button', { name: 'Send', exact: true }).isEnabled(), 'Send stays disabled after acknowledging');
    await t.shot(page, 'alert-acknowledged.png');
  });
});
