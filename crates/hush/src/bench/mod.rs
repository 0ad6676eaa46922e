//! `hush bench`: messages per second through one local server (with and without a crowd
//! of idle WebSockets of other devices), and send-to-receive latency, with the real client
//! library, real SQLite and real HTTP on loopback.

mod crowd;

use std::time::{Duration, Instant};

use clap::Args;
use hush_client::Client;

/// Options for `hush bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Messages for the throughput run.
    #[arg(long, default_value_t = 500)]
    messages: usize,
    /// Round trips for the latency run.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Sender/receiver pairs sending at once for the aggregate run.
    #[arg(long, default_value_t = 8)]
    pairs: usize,
    /// Key directory: publish this many users in one epoch (comma-separated sizes); 0 skips it.
    #[arg(long, value_delimiter = ',', default_values_t = vec![10_000])]
    kt_users: Vec<usize>,
    /// Skip the messaging runs.
    #[arg(long)]
    kt_only: bool,
    /// Files: encrypt/decrypt a file of this many MiB locally (next to the `age` tool when
    /// it is installed) and put/get it through the server; 0 skips it.
    #[arg(long, default_value_t = 0)]
    file_mib: u64,
    /// Run only the files benchmark (with --file-mib, default 1024).
    #[arg(long)]
    files_only: bool,
    /// Measure the throughput again with this many idle push WebSockets of other devices
    /// open (four per device, the most one device may hold); 0 skips it.
    #[arg(long, default_value_t = 2000)]
    idle_websockets: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Runs the benchmark and prints the figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.messages == 0 || args.samples == 0 || args.pairs == 0 {
        anyhow::bail!("--messages, --samples and --pairs must be at least 1");
    }
    let dir = tempfile::Builder::new().prefix("hush-bench-").tempdir()?;
    if args.files_only || args.file_mib > 0 {
        let mib = if args.file_mib == 0 { 1024 } else { args.file_mib };
        files(mib, dir.path()).await?;
        if args.files_only {
            dir.close()?;
            return Ok(());
        }
    }
    if !args.kt_only {
        messaging(&args, dir.path()).await?;
    }
    for &n in args.kt_users.iter().filter(|n| **n > 0) {
        let r = hush_server::kt::bench(&dir.path().join(format!("kt-{n}")), n, 200).await?;
        println!("key directory (akd over SQLite, durable), {} users published in one epoch:", r.users);
        println!("  publish            {:>9.2} s", r.publish.as_secs_f64());
        println!("  lookup proof       {:>9} bytes (serde-JSON on the wire)", r.lookup_proof_bytes);
        println!("  generate a proof   {:>9.2} ms   (server)", r.lookup_generate.as_secs_f64() * 1e3);
        println!("  verify a proof     {:>9.2} ms   (client)", r.lookup_verify.as_secs_f64() * 1e3);
    }
    dir.close()?;
    Ok(())
}

async fn messaging(args: &BenchArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    let mut config = hush_server::ServerConfig::new("127.0.0.1:0".parse()?, dir.join("server"));
    // Every client of the bench, the crowd's sockets included, comes from 127.0.0.1.
    config.max_connections_per_ip = config.max_connections;
    let per_device = config.max_websockets_per_device;
    let server = hush_server::Server::bind(config).await?;
    let url = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let pass = b"bench passphrase";
    let mut alice = Client::register(&dir.join("alice"), &url, &Default::default(), "alice", pass).await?;
    let mut bob = Client::register(&dir.join("bob"), &url, &Default::default(), "bob", pass).await?;
    alice.introduce("bob").await?;
    alice.send("bob", "warm-up").await?;
    bob.sync_and_take_unread().await?;

    println!("hush bench: one server on {url} (SQLite, synchronous=FULL), client library in-process, {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));

    // Throughput: alice sends N messages, each acknowledged by the server (durable), then
    // bob fetches and decrypts them all.
    let (sent, total) = throughput(&mut alice, &mut bob, args.messages, "").await?;
    println!("throughput, {} messages of ~20 bytes, 1:1 conversation:", args.messages);
    println!("  send --stdin (encrypt + durable accept)   {:>8.0} msg/s", sent);
    println!("  send + receive (fetch, decrypt, ack)      {:>8.0} msg/s", total);

    // The same with a crowd of idle live connections of other people's devices: a push
    // must wake only its own devices' sockets, so the figures should barely move.
    if args.idle_websockets > 0 {
        let before = crowd::rss_mib();
        let crowd = crowd::gather(&url, args.idle_websockets.div_ceil(per_device), per_device).await?;
        let with = crowd::rss_mib();
        let (sent_c, total_c) = throughput(&mut alice, &mut bob, args.messages, "crowd ").await?;
        println!(
            "the same with {} idle WebSockets of {} other devices open ({} still open after, {} woken):",
            crowd.opened,
            crowd.devices,
            crowd.still_open(),
            crowd.woken()
        );
        println!("  send --stdin                              {:>8.0} msg/s   {:>4.0}% of the figure without", sent_c, 100.0 * sent_c / sent);
        println!("  send + receive                            {:>8.0} msg/s   {:>4.0}% of the figure without", total_c, 100.0 * total_c / total);
        println!("  resident memory of this process (server and all clients): {before} MiB before the crowd, {with} MiB with it");
        drop(crowd);
    }

    // Aggregate: several pairs at once, each sender posting one message at a time (no
    // batching), as independent chat clients would.
    let mut pairs = Vec::new();
    for i in 0..args.pairs {
        let mut s = Client::register(&dir.join(format!("s{i}")), &url, &Default::default(), &format!("sender{i}"), pass).await?;
        let r = Client::register(&dir.join(format!("r{i}")), &url, &Default::default(), &format!("receiver{i}"), pass).await?;
        s.introduce(&format!("receiver{i}")).await?;
        s.send(&format!("receiver{i}"), "warm-up").await?;
        pairs.push((s, r));
    }
    let per = (args.messages / args.pairs).max(1);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for (i, (mut s, mut r)) in pairs.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for k in 0..per {
                s.send(&format!("receiver{i}"), &format!("m{k}")).await?;
            }
            let mut got = 0;
            while got < per + 1 {
                got += r.sync_and_take_unread().await?.iter().filter(|m| m.kind == "text").count();
            }
            Ok::<_, hush_client::ClientError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let agg = t0.elapsed();
    println!(
        "aggregate, {} pairs x {per} messages, one send call per message:  {:>8.0} msg/s delivered",
        args.pairs,
        (per * args.pairs) as f64 / agg.as_secs_f64()
    );

    // Latency: one message at a time, from alice's send call to bob having it decrypted.
    let mut lat = Vec::with_capacity(args.samples);
    for i in 0..args.samples {
        let t = Instant::now();
        alice.send("bob", &format!("ping {i}")).await?;
        loop {
            if bob.sync_and_take_unread().await?.iter().any(|m| m.kind == "text") {
                break;
            }
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    println!("send -> receive latency over {} round trips:", args.samples);
    println!("  p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3);
    let _ = stop.send(());
    let _ = handle.await;
    drop((alice, bob));
    Ok(())
}

/// alice sends `n` messages in one call (each acknowledged by the server, durable), then bob
/// fetches and decrypts them all: (sent per second, sent and received per second).
async fn throughput(alice: &mut Client, bob: &mut Client, n: usize, label: &str) -> anyhow::Result<(f64, f64)> {
    let texts: Vec<String> = (0..n).map(|i| format!("bench {label}message {i}")).collect();
    let t0 = Instant::now();
    alice.send_many("bob", &texts).await?;
    let sent = t0.elapsed();
    let mut got = 0;
    while got < n {
        got += bob.sync_and_take_unread().await?.iter().filter(|m| m.kind == "text").count();
    }
    let total = t0.elapsed();
    Ok((n as f64 / sent.as_secs_f64(), n as f64 / total.as_secs_f64()))
}

fn rate(bytes: u64, d: Duration) -> String {
    format!("{:>8.1} MiB/s  ({:.2} s)", bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64().max(1e-9), d.as_secs_f64())
}

fn timed_command(cmd: &mut std::process::Command) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let out = cmd.output()?;
    if !out.status.success() {
        anyhow::bail!("{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(t.elapsed())
}

/// Files: local age encryption and decryption next to the `age` tool on the same file, then
/// put and get through a server on loopback.
async fn files(mib: u64, dir: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    let bytes = mib * 1024 * 1024;
    let plain = dir.join("plain.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&plain)?);
        // Incompressible-looking bytes (xorshift), so nothing on the way can shortcut.
        let mut block = vec![0u8; 1 << 20];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..mib {
            for chunk in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
            }
            f.write_all(&block)?;
        }
        f.flush()?;
    }
    println!("hush bench files: {mib} MiB, {} cores, files on {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), dir.display());

    let key = hush_core::files::FileKey::generate();
    let enc = dir.join("hush.age");
    let t = Instant::now();
    hush_core::files::encrypt(&key, std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&plain)?), std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&enc)?))?;
    let e = t.elapsed();
    let t = Instant::now();
    hush_core::files::decrypt(&key, std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&enc)?), std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("hush.out"))?))?;
    let d = t.elapsed();
    println!("  hush-core (age crate) encrypt, file to file  {}", rate(bytes, e));
    println!("  hush-core (age crate) decrypt, file to file  {}", rate(bytes, d));
    std::fs::remove_file(dir.join("hush.out"))?;
    std::fs::remove_file(&enc)?;

    let keyfile = dir.join("age-key.txt");
    match std::process::Command::new("age-keygen").arg("-o").arg(&keyfile).output() {
        Ok(o) if o.status.success() => {
            let r = std::process::Command::new("age-keygen").arg("-y").arg(&keyfile).output()?;
            let recipient = String::from_utf8_lossy(&r.stdout).trim().to_owned();
            let out = dir.join("tool.age");
            let e = timed_command(std::process::Command::new("age").arg("-r").arg(&recipient).arg("-o").arg(&out).arg(&plain))?;
            let d = timed_command(std::process::Command::new("age").arg("-d").arg("-i").arg(&keyfile).arg("-o").arg(dir.join("tool.out")).arg(&out))?;
            println!("  age command-line tool encrypt, file to file  {}", rate(bytes, e));
            println!("  age command-line tool decrypt, file to file  {}", rate(bytes, d));
            std::fs::remove_file(dir.join("tool.out"))?;
            std::fs::remove_file(&out)?;
        }
        _ => println!("  age command-line tool: not installed (Debian package `age`), skipped"),
    }

    let config = hush_server::ServerConfig::new("127.0.0.1:0".parse()?, dir.join("server"));
    let server = hush_server::Server::bind(config).await?;
    let url = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let mut alice = Client::register(&dir.join("alice"), &url, &Default::default(), "alice", b"bench passphrase").await?;
    let opts = hush_client::drive::TransferOptions::default();
    let t = Instant::now();
    alice.put(&plain, Some("bench.bin"), 1, opts.clone()).await?;
    let p = t.elapsed();
    let got = dir.join("got.bin");
    let t = Instant::now();
    alice.get("bench.bin", &hush_client::drive::Destination::File { path: got, force: false }, None, opts).await?;
    let g = t.elapsed();
    println!("  put through the server on loopback (encrypt, upload, sign)  {}", rate(bytes, p));
    println!("  get through the server on loopback (download, verify, decrypt)  {}", rate(bytes, g));
    let _ = stop.send(());
    let _ = handle.await;
    Ok(())
}
