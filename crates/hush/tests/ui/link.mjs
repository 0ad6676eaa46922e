// Scenario "link": alice's second device joins her account with "link to my other device";
// her first device approves the code; the second then has her conversations and new messages.
//
// Run: node link.mjs (from this directory, after `npm ci`). Environment:
//   HUSH_UI_ALICE         one-time URL of alice's running `hush ui`, her account open
//                         (the token must not have been used yet)
//   HUSH_UI_ALICE2        one-time URL of a fresh `hush ui` on a new, empty home
//   HUSH_SERVER           the hush server's URL, typed into the second device's onboarding
//   HUSH_UI_CONVERSATION  the shown name of a conversation alice is in (a group's name, or the
//                         other person's username for a one-to-one chat)
//   HUSH_UI_SHOTS         where the screenshots go (see lib.mjs for the optional ones)
//   HUSH_UI_USER          the username (default alice)
//   HUSH_UI_PASSPHRASE    the new device's passphrase (default: HUSH_PASSPHRASE, else a fixed one)
//   HUSH_UI_MESSAGE       optional: a message the Rust side sends into that conversation after
//                         the link; the second device must show it too
// The first device also sends a message after the link, which the second must show live.
// Exit 0: every step passed. Exit 1: "FAIL link: <step>: <why>" on stderr.
import { run, env, until, textOf, open, nav, openConversation, send, messageShown, STEP } from './lib.mjs';

const server = env('HUSH_SERVER');
const user = env('HUSH_UI_USER', 'alice');
const conversation = env('HUSH_UI_CONVERSATION');
const passphrase = env('HUSH_UI_PASSPHRASE', process.env.HUSH_PASSPHRASE || 'second device, second passphrase');
const extra = process.env.HUSH_UI_MESSAGE || '';

await run('link', async (t) => {
  const first = await t.person(`${user}-first`);
  const second = await t.person(`${user}-second`);

  await t.step('both apps open; the first has the account', async () => {
    await open(first, env('HUSH_UI_ALICE'));
    await first.getByRole('heading', { level: 1, name: 'Conversations', exact: true }).waitFor();
    await open(second, env('HUSH_UI_ALICE2'));
    await second.getByRole('heading', { name: 'Welcome to hush' }).waitFor();
  });

  let code = '';
  await t.step('the new device asks to link and shows a code', async () => {
    await second.getByRole('button', { name: 'Link to my other device' }).click();
    await second.getByLabel('Server address').fill(server);
    await second.getByLabel('Username').fill(user);
    await second.getByLabel('Passphrase', { exact: true }).fill(passphrase);
    await second.getByRole('button', { name: 'Link this device' }).click();
    code = await until(async () => textOf(second.getByTestId('link-code')), 'no link code is shown', 60_000);
    await t.shot(second, 'link-code.png');
  });

  await t.step(`the first device approves code ${code} in Devices`, async () => {
    await nav(first, 'Devices');
    const before = await first.getByRole('list', { name: 'Your devices' }).getByRole('listitem').count();
    await first.getByLabel('Code shown on the new device').fill(code);
    await first.getByRole('button', { name: 'Approve device' }).click();
    await until(async () => (await first.getByRole('list', { name: 'Your devices' }).getByRole('listitem').count()) > Math.max(before, 1),
      'the devices list does not show the new device', 60_000);
    await t.shot(first, 'devices.png');
  });

  await t.step(`the new device lists "${conversation}"`, async () => {
    await second.getByRole('heading', { level: 1, name: 'Conversations', exact: true }).waitFor({ timeout: 90_000 });
    await second.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: conversation, exact: true }).waitFor({ timeout: 90_000 });
    await t.shot(second, 'linked-conversations.png');
  });

  const hello = `Written on my first device at ${new Date().toISOString()}`;
  await t.step('a message from the first device reaches the second live', async () => {
    await openConversation(first, conversation);
    await openConversation(second, conversation);
    await send(first, hello);
    await messageShown(second, hello, 60_000);
    if (extra) await messageShown(second, extra, 60_000);
    await t.shot(second, 'linked-chat.png');
  });

  await t.step('the second device can write too', async () => {
    const back = 'And this one from my new device.';
    await send(second, back);
    await messageShown(first, back, STEP);
  });
});
