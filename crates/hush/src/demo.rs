//! `hush demo`: a server on a temporary directory, three people, a one-to-one chat, a group
//! chat with a removal, a file in the group's space, a safety-number check, a hostile server
//! caught changing the file, and a search of everything the server stored for the plaintexts.

use std::path::{Path, PathBuf};

use hush_client::drive::{DEFAULT_KEEP_VERSIONS, Destination, TransferOptions};
use hush_client::Client;
use hush_core::display::{escape, human_bytes};

use crate::out::print_message;

const PASSPHRASE: &[u8] = b"demo passphrase (not for real use)";

/// The file alice puts into the group's space, line by line (each is searched for at the end).
const TRAIL_MAP: [&str; 3] = [
    "Trail map for Saturday: north trailhead at 9:00.",
    "Ridge path to Eagle Lake, 7 km; lunch by the water.",
    "Return on the forest loop, last bus at 17:40.",
];

async fn show(name: &str, c: &mut Client) -> anyhow::Result<()> {
    let msgs = c.sync_and_take_unread().await?;
    println!("--- what {name} sees ---");
    if msgs.is_empty() {
        println!("(nothing new)");
    }
    for m in &msgs {
        print_message(m, false);
    }
    Ok(())
}

/// Runs the demo.
/// Runs the demo; with `ui`, then leaves the server and the three people running, each in
/// their own app, and prints one address per person.
pub async fn run(ui: bool) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new().prefix("hush-demo-").tempdir()?;
    let data = dir.path().join("server-data");
    let server = hush_server::Server::bind(hush_server::ServerConfig::new("127.0.0.1:0".parse()?, data.clone())).await?;
    let url = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    println!("hush demo: a server on {url}, its data in {}\n", data.display());

    let mut alice = Client::register(&dir.path().join("alice"), &url, &Default::default(), "alice", PASSPHRASE).await?;
    let mut bob = Client::register(&dir.path().join("bob"), &url, &Default::default(), "bob", PASSPHRASE).await?;
    let mut carol = Client::register(&dir.path().join("carol"), &url, &Default::default(), "carol", PASSPHRASE).await?;
    for c in [&alice, &bob, &carol] {
        println!("registered {:<6} device {}  identity {}", c.username(), c.device_id(), c.fingerprint());
    }

    let mut plaintexts: Vec<&str> = Vec::new();
    let mut say = |who: &mut Client, to: &'static str, text: &'static str| {
        plaintexts.push(text);
        println!("{} -> {to}: {text}", who.username());
        (to, text)
    };

    println!("\n== one-to-one ==");
    // bob is new to alice: she says so (the CLI asks, or takes --new).
    alice.introduce("bob").await?;
    let (to, t) = say(&mut alice, "bob", "Hi Bob, lunch at noon? The usual place.");
    alice.send(to, t).await?;
    show("bob", &mut bob).await?;
    let (to, t) = say(&mut bob, "alice", "Sure, see you at noon!");
    bob.send(to, t).await?;
    show("alice", &mut alice).await?;

    println!("\n== group: alice creates 'weekend' with bob and carol ==");
    alice.create_conversation("weekend", &["bob".into(), "carol".into()]).await?;
    let (to, t) = say(&mut alice, "weekend", "Hiking on Saturday? Meet at the north trailhead.");
    alice.send(to, t).await?;
    show("bob", &mut bob).await?;
    show("carol", &mut carol).await?;
    let (to, t) = say(&mut carol, "weekend", "I'm in, I'll bring the thermos.");
    carol.send(to, t).await?;
    show("alice", &mut alice).await?;
    show("bob", &mut bob).await?;

    println!("\n== alice removes carol from 'weekend' ==");
    alice.remove_from("weekend", &["carol".into()]).await?;
    let (to, t) = say(&mut alice, "weekend", "Surprise party for Carol after the hike!");
    alice.send(to, t).await?;
    show("bob", &mut bob).await?;
    show("carol", &mut carol).await?;

    let copy = share_file(dir.path(), &mut alice, &mut bob).await?;
    compare_safety_numbers(&mut alice, &mut bob).await?;
    tamper_and_catch(&data, &copy, &mut bob).await?;
    let messages = plaintexts.len();
    plaintexts.extend(TRAIL_MAP);

    // Stop the server so every byte it wrote is on disk, then search all of it (the app
    // keeps it running: its database is searched as it is, write-ahead log included).
    let mut running = Some((stop, handle));
    if !ui && let Some((stop, handle)) = running.take() {
        let _ = stop.send(());
        let _ = handle.await;
    }
    println!("\n== what the server holds ==");
    let (files, bytes, found) = search(&data, &plaintexts)?;
    println!(
        "searched {files} files ({bytes} bytes) in the server's data directory for the {} plaintexts ({messages} messages, {} lines of the file)",
        plaintexts.len(),
        TRAIL_MAP.len()
    );
    if found.is_empty() {
        println!("none of them was found: the server stored only ciphertext");
    } else {
        for (file, text) in &found {
            println!("FOUND {text:?} in {file}");
        }
        anyhow::bail!("plaintext found in the server's data");
    }
    drop((alice, bob, carol));
    if ui {
        serve_apps(dir.path()).await?;
    }
    if let Some((stop, handle)) = running.take() {
        let _ = stop.send(());
        let _ = handle.await;
    }
    dir.close()?;
    println!("\ncleaned up the temporary directory");
    Ok(())
}

/// `hush demo --ui`: alice, bob and carol each in their own app, until Ctrl-C.
async fn serve_apps(dir: &Path) -> anyhow::Result<()> {
    println!("\n== the app: one address per person (each works once, on this machine) ==");
    let mut tasks = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let started = crate::ui::start(crate::ui::Options {
            home: dir.join(name),
            trust: Default::default(),
            listen: "127.0.0.1:0".parse()?,
            open_browser: false,
            passphrase: Some(zeroize::Zeroizing::new(String::from_utf8_lossy(PASSPHRASE).into_owned())),
        })
        .await?;
        println!("{name:<6} {}", started.url);
        tasks.push(started.task);
    }
    println!("\nOpen each in its own browser window (or a private one: each address sets its own session).");
    println!("The server and the three people keep running until Ctrl-C.");
    crate::signal::shutdown_signal().await;
    for t in tasks {
        t.abort();
    }
    Ok(())
}

/// alice puts the trail map into the space of "weekend"; bob lists the space and opens the
/// file. Returns where bob's copy is.
async fn share_file(dir: &Path, alice: &mut Client, bob: &mut Client) -> anyhow::Result<PathBuf> {
    println!("\n== files: alice puts a trail map into the space of 'weekend' ==");
    let original = dir.join("trail-map.txt");
    std::fs::write(&original, TRAIL_MAP.map(|l| format!("{l}\n")).concat())?;
    let put = alice.put(&original, Some("weekend:"), DEFAULT_KEEP_VERSIONS, TransferOptions::default()).await?;
    println!("alice put {} ({}, version {}), encrypted on her device", put.location, human_bytes(put.size), put.version);
    let (_, items) = bob.ls("weekend:").await?;
    println!("--- bob lists weekend: ---");
    for i in &items {
        println!("{:<16} {:>10}  v{}  {}", escape(&i.name), human_bytes(i.size), i.version, i.author_shown);
    }
    let downloads = dir.join("bob-downloads");
    std::fs::create_dir_all(&downloads)?;
    let copy = downloads.join("trail-map.txt");
    let got = bob.get("weekend:trail-map.txt", &Destination::File { path: copy.clone(), force: false }, None, TransferOptions::default()).await?;
    println!("bob got it: {} ({}), checked against its signed manifest", copy.display(), human_bytes(got.size));
    if std::fs::read(&copy)? != std::fs::read(&original)? {
        anyhow::bail!("bob's copy of the trail map differs from alice's file");
    }
    println!("bob's bytes equal alice's: the file arrived intact");
    Ok(copy)
}

/// alice and bob each compute their safety number with the other, see that they match, and
/// alice records bob as verified.
async fn compare_safety_numbers(alice: &mut Client, bob: &mut Client) -> anyhow::Result<()> {
    println!("\n== safety numbers: alice and bob check each other's identity key ==");
    let a = alice.safety_number("bob").await?;
    let b = bob.safety_number("alice").await?;
    println!("alice's number with bob: {}", hush_core::safety::grouped(&a.number));
    println!("bob's number with alice: {}", hush_core::safety::grouped(&b.number));
    if a.number != b.number {
        anyhow::bail!("the safety numbers differ: someone is in the middle");
    }
    if !alice.confirm_verified("bob").await?.verified {
        anyhow::bail!("alice's confirmation did not mark bob verified");
    }
    println!("they match (people compare them in person or on a call): alice marks bob verified");
    Ok(())
}

/// The server turns hostile: one byte of the stored file's ciphertext is flipped in its data
/// directory, and bob opens the file again. The client refuses it and writes nothing.
async fn tamper_and_catch(data: &Path, copy: &Path, bob: &mut Client) -> anyhow::Result<()> {
    println!("\n== a hostile server: one byte of the stored file flipped ==");
    let blobs = files_under(&data.join(hush_server::BLOBS_DIR))?;
    let [blob] = blobs.as_slice() else {
        anyhow::bail!("expected one stored file in the server's blobs, found {}", blobs.len());
    };
    let mut bytes = std::fs::read(blob)?;
    let header = String::from_utf8_lossy(bytes.split(|b| *b == b'\n').next().unwrap_or_default()).into_owned();
    let shown = blob.strip_prefix(data).unwrap_or(blob).display().to_string();
    println!("the server stores the file as {shown} ({}, an age file: \"{header}\")", human_bytes(bytes.len() as u64));
    let at = bytes.len().saturating_sub(8);
    let Some(byte) = bytes.get_mut(at) else { anyhow::bail!("the stored file is empty") };
    *byte ^= 0x01;
    std::fs::write(blob, &bytes)?;
    println!("it flips one bit of byte {at} there, and bob opens trail-map.txt again");
    let again = copy.with_file_name("trail-map-again.txt");
    let out = Destination::File { path: again.clone(), force: false };
    match bob.get("weekend:trail-map.txt", &out, None, TransferOptions::default()).await {
        Ok(_) => anyhow::bail!("the flipped byte was not caught"),
        Err(e) if e.misbehaviour().is_some() => println!("caught: {e}"),
        Err(e) => return Err(e.into()),
    }
    let left = files_under(copy.parent().unwrap_or(copy))?;
    if again.exists() || left.len() != 1 {
        anyhow::bail!("the tampered file left something in bob's folder");
    }
    println!("nothing of it reached bob: {} was not written", again.display());
    // The server is honest again (the plaintext search below doesn't depend on it).
    if let Some(byte) = bytes.get_mut(at) {
        *byte ^= 0x01;
    }
    std::fs::write(blob, &bytes)?;
    Ok(())
}

/// Every file under `dir`, at any depth.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                // Not the running server's admin socket.
                files.push(entry.path());
            }
        }
    }
    Ok(files)
}

/// Files searched, bytes searched, and (file, text) for every text found.
pub type SearchResult = (usize, u64, Vec<(String, String)>);

/// Searches every file under `dir` for each text.
pub fn search(dir: &Path, texts: &[&str]) -> anyhow::Result<SearchResult> {
    let paths = files_under(dir)?;
    let mut bytes = 0;
    let mut found = Vec::new();
    for path in &paths {
        let content = std::fs::read(path)?;
        bytes += content.len() as u64;
        for t in texts {
            // Search for a distinctive piece too, in case a text were split.
            let needles = [t.as_bytes(), &t.as_bytes()[..t.len().min(12)]];
            if needles.iter().any(|n| content.windows(n.len()).any(|w| w == *n)) {
                found.push((path.display().to_string(), (*t).to_owned()));
            }
        }
    }
    Ok((paths.len(), bytes, found))
}
