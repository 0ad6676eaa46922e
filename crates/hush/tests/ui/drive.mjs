// Scenario "drive": the rest of the app's screens, used as a person would: the personal
// drive (upload with the picker, a new version, download of the older one, a folder, rename
// and move, share with a contact and take it back, export for an age recipient, delete),
// group changes (add, history, leave), guardians, and the passphrase.
//
// Run: node drive.mjs (from this directory, after `npm ci`). Environment:
//   HUSH_UI_ALICE, HUSH_UI_BOB, HUSH_UI_CAROL  one-time URLs of three fresh `hush ui`, no account yet
//   HUSH_SERVER        the hush server's URL, typed into the onboarding screen
//   HUSH_UI_SHOTS      where the screenshots go (drive.png, drive-versions.png, shared.png)
// Exit 0: every step passed. Exit 1: "FAIL drive: <step>: <why>" on stderr.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, env, until, textOf, open, register, nav, openConversation, send, messageShown, confirmDialog } from './lib.mjs';

const server = env('HUSH_SERVER');
const [A, B, C] = ['alice', 'bob', 'carol'];
const pass = (u) => `${u} likes long walks on quiet beaches`;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hush-ui-drive-'));
const v1 = path.join(work, 'v1', 'notes.txt');
const v2 = path.join(work, 'v2', 'notes.txt');
fs.mkdirSync(path.dirname(v1));
fs.mkdirSync(path.dirname(v2));
fs.writeFileSync(v1, 'first draft\n');
fs.writeFileSync(v2, 'second draft, longer\n');
// The age project's example recipient (the identity is not needed: only the export's form is checked).
const AGE = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';

async function download(page, link, to) {
  const [dl] = await Promise.all([page.waitForEvent('download'), link.click()]);
  await dl.saveAs(to);
  const failure = await dl.failure();
  if (failure) throw new Error(`the download failed: ${failure}`);
  return { name: dl.suggestedFilename(), bytes: fs.readFileSync(to) };
}

async function rowMenu(page, name, action) {
  const row = page.getByTestId(`item-${name}`);
  await row.getByText('More', { exact: true }).click();
  await row.getByRole('button', { name: action, exact: true }).click();
}

await run('drive', async (t) => {
  const alice = await t.person(A);
  const bob = await t.person(B);
  const carol = await t.person(C);
  await t.step('three people register', async () => {
    for (const [page, u, url] of [[alice, A, 'HUSH_UI_ALICE'], [bob, B, 'HUSH_UI_BOB'], [carol, C, 'HUSH_UI_CAROL']]) {
      await open(page, env(url));
      await register(t, page, { server, username: u, passphrase: pass(u) });
    }
  });

  await t.step(`${A} and ${B} start talking`, async () => {
    await alice.getByLabel('Their username').fill(B);
    await alice.getByLabel('First message').fill('hi');
    await alice.getByRole('button', { name: 'Send', exact: true }).click();
    await confirmDialog(alice, `${B} is new to you`, `Yes, message ${B}`);
    await messageShown(alice, 'hi');
  });

  await t.step('upload with the picker, then a second version', async () => {
    await nav(alice, 'Files');
    await alice.getByRole('heading', { level: 1, name: 'Your drive' }).waitFor();
    await alice.locator('#upload-picker').setInputFiles(v1);
    await alice.getByTestId('item-notes.txt').waitFor();
    await alice.locator('#upload-picker').setInputFiles(v2);
    await until(async () => (await textOf(alice.getByTestId('item-notes.txt'))).includes('2'), 'notes.txt does not show version 2');
  });

  await t.step('the older version downloads', async () => {
    await alice.getByRole('button', { name: 'Versions of notes.txt' }).click();
    const got = await download(alice, alice.getByRole('link', { name: 'Download version 1 of notes.txt' }), path.join(work, 'got-v1'));
    if (got.bytes.toString() !== 'first draft\n') throw new Error(`version 1 came back as ${JSON.stringify(got.bytes.toString())}`);
    const now = await download(alice, alice.getByRole('link', { name: 'Download notes.txt' }), path.join(work, 'got-v2'));
    if (now.bytes.toString() !== 'second draft, longer\n') throw new Error(`the current version came back as ${JSON.stringify(now.bytes.toString())}`);
    await t.shot(alice, 'drive-versions.png');
  });

  await t.step('a folder, and the file renamed into it', async () => {
    await alice.getByLabel('New folder').fill('docs');
    await alice.getByRole('button', { name: 'Create folder' }).click();
    await alice.getByTestId('item-docs').waitFor();
    await rowMenu(alice, 'notes.txt', 'Rename or move');
    const dialog = alice.getByRole('dialog');
    await dialog.getByLabel('New path').fill('docs/plan.txt');
    await dialog.getByRole('button', { name: 'Move', exact: true }).click();
    await alice.getByTestId('item-notes.txt').waitFor({ state: 'detached' });
    await alice.getByRole('link', { name: 'docs' }).click();
    await alice.getByTestId('item-plan.txt').waitFor();
    await t.shot(alice, 'drive.png');
  });

  await t.step(`share it with ${B}, who finds it in their chat's files; then take it back`, async () => {
    await rowMenu(alice, 'plan.txt', 'Share');
    let dialog = alice.getByRole('dialog');
    await dialog.getByRole('textbox').fill(B);
    await dialog.getByRole('button', { name: 'Share', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await openConversation(bob, A);
    await bob.getByRole('link', { name: 'Files of this conversation' }).click();
    await bob.getByTestId('item-plan.txt').waitFor();
    await t.shot(bob, 'shared.png');
    await rowMenu(alice, 'plan.txt', 'Stop sharing');
    dialog = alice.getByRole('dialog');
    await dialog.getByRole('textbox').fill(B);
    await dialog.getByRole('button', { name: 'Stop sharing', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await bob.getByTestId('item-plan.txt').waitFor({ state: 'detached', timeout: 45_000 }); // files are polled
  });

  await t.step('export for an age recipient, then delete', async () => {
    await rowMenu(alice, 'plan.txt', 'Export for an age recipient');
    const dialog = alice.getByRole('dialog');
    await dialog.getByRole('textbox').fill(AGE);
    const got = await download(alice, dialog.getByRole('button', { name: 'Export', exact: true }), path.join(work, 'export.age'));
    if (!got.bytes.toString('latin1').startsWith('age-encryption.org/v1')) throw new Error('the export is not an age file');
    await rowMenu(alice, 'plan.txt', 'Delete');
    await confirmDialog(alice, 'Delete plan.txt?', 'Delete');
    await alice.getByTestId('item-plan.txt').waitFor({ state: 'detached' });
  });

  await t.step(`a group: add ${C}, history on, ${C} leaves`, async () => {
    await nav(alice, 'Conversations');
    await alice.getByLabel('Group name').fill('club');
    await alice.getByLabel('Members', { exact: true }).fill(B);
    await alice.getByRole('button', { name: 'Create group' }).click();
    await alice.getByRole('heading', { level: 1, name: 'club', exact: true }).waitFor();
    await alice.getByLabel('Share earlier messages with people and devices who join').check();
    await send(alice, 'welcome to the club');
    await alice.getByLabel('Add people').fill(C);
    await alice.getByRole('button', { name: 'Add', exact: true }).click();
    await alice.getByTestId(`member-${C}`).waitFor();
    await openConversation(carol, 'club');
    await carol.getByRole('button', { name: 'Leave this conversation' }).click();
    await confirmDialog(carol, 'Leave club?', 'Leave');
    await carol.getByTestId('not-member').waitFor();
    await alice.getByTestId(`member-${C}`).waitFor({ state: 'detached' });
  });

  await t.step('guardians, and a new passphrase', async () => {
    await nav(alice, 'Recovery');
    await alice.getByRole('textbox', { name: 'Guardians', exact: true }).fill(`${B} ${C}`);
    await alice.getByLabel('How many must approve').fill('2');
    await alice.getByRole('button', { name: 'Save guardians' }).click();
    await alice.getByText('Guardians saved').waitFor();
    await nav(alice, 'Settings');
    await alice.getByLabel('Current passphrase').fill(pass(A));
    await alice.getByLabel('New passphrase', { exact: true }).fill('a brand new passphrase');
    await alice.getByLabel('New passphrase again').fill('a brand new passphrase');
    await alice.getByRole('button', { name: 'Change passphrase' }).click();
    await alice.getByText('Passphrase changed.').waitFor();
  });
});
