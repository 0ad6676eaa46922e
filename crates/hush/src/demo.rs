//! `hush demo`: a server on a temporary directory, three people, a one-to-one chat, a group
//! chat with a removal, and a search of everything the server stored for the plaintexts.

use std::path::Path;

use hush_client::Client;

use crate::out::print_message;

const PASSPHRASE: &[u8] = b"demo passphrase (not for real use)";

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
pub async fn run() -> anyhow::Result<()> {
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

    // Stop the server so every byte it wrote is on disk, then search all of it.
    let _ = stop.send(());
    let _ = handle.await;
    println!("\n== what the server holds ==");
    let (files, bytes, found) = search(&data, &plaintexts)?;
    println!("searched {files} files ({bytes} bytes) in the server's data directory for the {} plaintexts sent", plaintexts.len());
    if found.is_empty() {
        println!("none of them was found: the server stored only ciphertext");
    } else {
        for (file, text) in &found {
            println!("FOUND {text:?} in {file}");
        }
        anyhow::bail!("plaintext found in the server's data");
    }
    drop((alice, bob, carol));
    dir.close()?;
    println!("\ncleaned up the temporary directory");
    Ok(())
}

/// Files searched, bytes searched, and (file, text) for every text found.
pub type SearchResult = (usize, u64, Vec<(String, String)>);

/// Searches every file under `dir` for each text.
pub fn search(dir: &Path, texts: &[&str]) -> anyhow::Result<SearchResult> {
    let mut files = 0;
    let mut bytes = 0;
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
                continue;
            }
            let content = std::fs::read(&path)?;
            files += 1;
            bytes += content.len() as u64;
            for t in texts {
                // Search for a distinctive piece too, in case a text were split.
                let needles = [t.as_bytes(), &t.as_bytes()[..t.len().min(12)]];
                if needles.iter().any(|n| content.windows(n.len()).any(|w| w == *n)) {
                    found.push((path.display().to_string(), (*t).to_owned()));
                }
            }
        }
    }
    Ok((files, bytes, found))
}
