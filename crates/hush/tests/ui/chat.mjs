// Scenario "chat": three people register in their own `hush ui`, chat live, make a group,
// remove someone, share a big file by drag and drop, and verify each other.
//
// Run: node chat.mjs (from this directory, after `npm ci`). Environment:
//   HUSH_UI_ALICE, HUSH_UI_BOB, HUSH_UI_CAROL  each person's one-time URL of a fresh `hush ui`
//                                            (http://127.0.0.1:PORT/session?token=…), no account yet
//   HUSH_SERVER        the hush server's URL, typed into the onboarding screen
//   HUSH_UI_FILE       a file (20 MiB of random bytes) alice drops into the group's files
//   HUSH_UI_DOWNLOAD   where bob's download of it is saved (the Rust side compares the bytes)
//   HUSH_UI_SHOTS      where the screenshots go (see lib.mjs for the optional ones)
// Usernames are alice, bob and carol unless HUSH_UI_NAMES="a b c" says otherwise.
// Exit 0: every step passed. Exit 1: "FAIL chat: <step>: <why>" on stderr.
import path from 'node:path';
import { run, env, until, textOf, open, register, nav, openConversation, send, messageShown, confirmDialog, STEP } from './lib.mjs';

const server = env('HUSH_SERVER');
const file = env('HUSH_UI_FILE');
const download = env('HUSH_UI_DOWNLOAD');
const [A, B, C] = env('HUSH_UI_NAMES', 'alice bob carol').split(/\s+/);
const urls = { [A]: env('HUSH_UI_ALICE'), [B]: env('HUSH_UI_BOB'), [C]: env('HUSH_UI_CAROL') };
const passphrase = (u) => `${u} likes long walks on quiet beaches`;
const GROUP = 'weekend';
const BIG = 180_000; // ms allowed for the 20 MiB upload and download

await run('chat', async (t) => {
  const alice = await t.person(A);
  const bob = await t.person(B);
  const carol = await t.person(C, { colorScheme: 'dark' });

  await t.step('everyone opens their app', async () => {
    await open(alice, urls[A]);
    await open(bob, urls[B]);
    await open(carol, urls[C]);
  });

  await t.step(`${A} registers (phrase shown once, three words checked)`, () => register(t, alice, { server, username: A, passphrase: passphrase(A), shots: true }));
  await t.step(`${B} registers`, () => register(t, bob, { server, username: B, passphrase: passphrase(B) }));
  await t.step(`${C} registers`, () => register(t, carol, { server, username: C, passphrase: passphrase(C) }));

  const hello = `Hello ${B}, this is ${A}.`;
  await t.step(`${A} starts a chat with ${B}, confirming "${B} is new to you"`, async () => {
    await alice.getByLabel('Their username').fill(B);
    await alice.getByLabel('First message').fill(hello);
    await alice.getByRole('button', { name: 'Send', exact: true }).click();
    await confirmDialog(alice, `${B} is new to you`, `Yes, message ${B}`);
    await alice.getByRole('heading', { level: 1, name: B, exact: true }).waitFor();
    await messageShown(alice, hello);
  });

  await t.step(`${B} sees it without reloading, with an unread count`, async () => {
    const link = bob.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: A, exact: true });
    await link.waitFor();
    await until(async () => /[1-9]\d* unread/.test(await textOf(bob.locator('li.conv').filter({ has: bob.getByRole('link', { name: A, exact: true }) }))), `${B}'s list shows no unread count for ${A}`);
    await t.shot(bob, 'conversations.png');
    await link.click();
    await messageShown(bob, hello);
  });

  const reply = `Hi ${A}! Got it.`;
  await t.step(`${B} replies and ${A} sees it live`, async () => {
    await send(bob, reply);
    await messageShown(alice, reply);
  });

  const plans = 'Plans for Saturday?';
  await t.step(`${A} creates the group "${GROUP}" with ${B} and ${C}`, async () => {
    await nav(alice, 'Conversations');
    await alice.getByLabel('Group name').fill(GROUP);
    await alice.getByLabel('Members', { exact: true }).fill(`${B}, ${C}`);
    await alice.getByRole('button', { name: 'Create group' }).click();
    const dialog = alice.getByRole('dialog');
    if (await dialog.isVisible().catch(() => false)) await dialog.getByRole('button').first().click();
    await alice.getByRole('heading', { level: 1, name: GROUP, exact: true }).waitFor();
    await send(alice, plans);
  });

  await t.step(`${B} and ${C} see the group's message`, async () => {
    for (const page of [bob, carol]) {
      await nav(page, 'Conversations');
      await page.getByRole('list', { name: 'Conversations' }).getByRole('link', { name: GROUP, exact: true }).waitFor();
      await openConversation(page, GROUP);
      await messageShown(page, plans);
    }
    await t.shot(carol, 'chat-dark.png');
  });

  await t.step(`everyone in "${GROUP}" sees three members, each with a device`, async () => {
    for (const page of [alice, bob, carol]) {
      for (const u of [A, B, C]) {
        const m = page.getByTestId(`member-${u}`);
        await m.waitFor();
        await m.getByRole('list', { name: `Devices of ${u}` }).getByRole('listitem').first().waitFor();
      }
    }
    await t.shot(alice, 'chat.png');
  });

  await t.step(`${A} removes ${C}`, async () => {
    await alice.getByTestId(`member-${C}`).getByRole('button', { name: `Remove ${C}` }).click();
    await confirmDialog(alice, `Remove ${C}?`, `Remove ${C}`);
    await alice.getByTestId(`member-${C}`).waitFor({ state: 'detached' });
  });

  await t.step(`${C} is told she was removed; ${B} no longer lists ${C}`, async () => {
    await carol.getByTestId('not-member').waitFor();
    const said = await textOf(carol.getByTestId('not-member'));
    if (!/no longer a member/.test(said)) throw new Error(`${C}'s page says "${said}", not that she is no longer a member`);
    if (await carol.getByRole('button', { name: 'Send', exact: true }).isVisible()) throw new Error(`${C} can still send in ${GROUP}`);
    await bob.getByTestId(`member-${C}`).waitFor({ state: 'detached' });
    await t.shot(carol, 'removed.png');
  });

  const fileName = path.basename(file);
  await t.step(`${A} drops ${fileName} into the group's files`, async () => {
    await alice.getByRole('link', { name: 'Files of this conversation' }).click();
    await alice.getByRole('heading', { level: 1, name: `Files of ${GROUP}` }).waitFor();
    const zone = alice.getByTestId('drop-zone');
    await zone.waitFor();
    // The bytes reach the page through an input the test makes (not the app's picker);
    // the app only sees a real drag and drop of a DataTransfer built in the page.
    await alice.evaluate(() => {
      const input = document.createElement('input');
      input.type = 'file';
      input.id = 'test-dnd-source';
      input.style.display = 'none';
      document.body.append(input);
    });
    await alice.setInputFiles('#test-dnd-source', file);
    await alice.evaluate(() => {
      const input = document.getElementById('test-dnd-source');
      const dt = new DataTransfer();
      for (const f of input.files) dt.items.add(f);
      input.remove();
      const zoneEl = document.querySelector('[data-testid="drop-zone"]');
      for (const type of ['dragenter', 'dragover', 'drop']) {
        zoneEl.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
      }
    });
    await alice.getByRole('list', { name: 'Uploads' }).getByText(fileName).waitFor();
    await alice.getByRole('progressbar', { name: `Upload of ${fileName}` }).waitFor();
    await alice.getByTestId(`item-${fileName}`).waitFor({ timeout: BIG });
    await until(async () => /uploaded/.test(await textOf(alice.getByRole('list', { name: 'Uploads' }))), 'the upload is not marked uploaded');
    await t.shot(alice, 'files.png');
  });

  await t.step(`${B} opens the group's files and downloads it`, async () => {
    await bob.getByRole('link', { name: 'Files of this conversation' }).click();
    const row = bob.getByTestId(`item-${fileName}`);
    await row.waitFor({ timeout: BIG });
    const [dl] = await Promise.all([
      bob.waitForEvent('download', { timeout: BIG }),
      row.getByRole('link', { name: `Download ${fileName}` }).click(),
    ]);
    await dl.saveAs(download);
    const failure = await dl.failure();
    if (failure) throw new Error(`the download failed: ${failure}`);
  });

  let number = '';
  await t.step(`${A} and ${B} open each other's safety number: the same`, async () => {
    await openConversation(alice, GROUP);
    await alice.getByTestId(`member-${B}`).getByRole('link', { name: `Verify ${B}` }).click();
    await alice.getByRole('heading', { level: 1, name: `Verify ${B}` }).waitFor();
    await openConversation(bob, GROUP);
    await bob.getByTestId(`member-${A}`).getByRole('link', { name: `Verify ${A}` }).click();
    await bob.getByRole('heading', { level: 1, name: `Verify ${A}` }).waitFor();
    const read = async (page) => until(async () => {
      const s = await textOf(page.getByTestId('safety-number'));
      return s.split(' ').length >= 12 ? s : null;
    }, 'no safety number is shown');
    number = await read(alice);
    const other = await read(bob);
    if (number !== other) throw new Error(`the safety numbers differ: ${A} sees "${number}", ${B} sees "${other}"`);
    if (!/^\d+( \d+)+$/.test(number)) throw new Error(`the safety number is not groups of digits: "${number}"`);
    await alice.getByRole('img', { name: /QR code/ }).waitFor();
    await t.shot(alice, 'verify.png');
  });

  await t.step('both confirm; the member list shows the verification', async () => {
    await alice.getByRole('button', { name: 'The numbers match: mark as verified' }).click();
    await alice.getByText(`You have verified ${B}.`).waitFor();
    await bob.getByRole('button', { name: 'The numbers match: mark as verified' }).click();
    await bob.getByText(`You have verified ${A}.`).waitFor();
    await openConversation(alice, GROUP);
    await alice.getByTestId(`member-${B}`).getByText('Verified', { exact: true }).waitFor();
    await alice.getByTestId(`member-${C}`).waitFor({ state: 'detached', timeout: STEP });
  });

  await t.step('the other screens show (devices, recovery, settings, phone width)', async () => {
    await nav(alice, 'Devices');
    await alice.getByRole('list', { name: 'Your devices' }).getByText('This device').waitFor();
    await t.shot(alice, 'devices.png');
    await nav(alice, 'Recovery');
    await t.shot(alice, 'recovery.png');
    await nav(alice, 'Settings');
    await alice.getByText(A, { exact: true }).waitFor();
    await t.shot(alice, 'settings.png');
    await bob.setViewportSize({ width: 390, height: 844 });
    await openConversation(bob, GROUP);
    await messageShown(bob, plans);
    await t.shot(bob, 'chat-phone.png');
  });
});
