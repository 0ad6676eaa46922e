//! File commands: the drive and each conversation's files.

use super::*;

pub(crate) async fn run(ctx: &Ctx, cmd: FilesCmd) -> anyhow::Result<()> {
    let home = &ctx.home;
    match cmd {
        FilesCmd::Put { file, dest, keep_versions, new, transfer } => {
            let mut c = open(home)?;
            if let Some((conv, _)) = dest.as_deref().and_then(|d| d.split_once(':'))
                && !conv.is_empty()
                && !conv.contains('/')
            {
                confirm_target(&mut c, conv, new).await?;
            }
            let r = c.put(&file, dest.as_deref(), keep_versions, transfer.options()).await?;
            if let Some(from) = r.resumed_from {
                println!("continued an interrupted upload from {}", hush_client::drive::human(from));
            }
            println!("put {} ({}, version {})", r.location, hush_client::drive::human(r.size), r.version);
            Ok(())
        }
        FilesCmd::Get { src, output, force, version, transfer } => {
            let mut c = open(home)?;
            let dest = destination(output, force);
            let r = c.get(&src, &dest, version, transfer.options()).await?;
            let mut report = String::new();
            if let Some(from) = r.resumed_from {
                report.push_str(&format!("continued an interrupted download from {}\n", hush_client::drive::human(from)));
            }
            report.push_str(&format!("wrote {} ({}), checked against its signed manifest", dest.describe(), hush_client::drive::human(r.size)));
            say(&dest, &report);
            Ok(())
        }
        FilesCmd::Ls { src, json } => {
            let mut c = open(home)?;
            let (_, items) = c.ls(src.as_deref().unwrap_or("")).await?;
            if json {
                let mut items = items;
                for i in &mut items {
                    i.name = hush_core::display::escape(&i.name).into_owned();
                    i.path = hush_core::display::escape(&i.path).into_owned();
                }
                println!("{}", serde_json::to_string(&items)?);
            } else if items.is_empty() {
                println!("(empty)");
            } else {
                for i in items {
                    let name = hush_core::display::escape(&i.name);
                    if i.kind == "folder" {
                        println!("{name}/");
                    } else {
                        println!(
                            "{:<32} {:>10}  v{}  {}  {}",
                            name,
                            hush_client::drive::human(i.size),
                            i.version,
                            hush_core::display::date_utc(i.modified_at),
                            i.author_shown
                        );
                    }
                }
            }
            Ok(())
        }
        FilesCmd::Mkdir { path } => {
            let mut c = open(home)?;
            c.mkdir(&path).await?;
            println!("made {path}");
            Ok(())
        }
        FilesCmd::Mv { src, dest } => {
            let mut c = open(home)?;
            c.mv(&src, &dest).await?;
            println!("moved {src} to {dest}");
            Ok(())
        }
        FilesCmd::Rm { path, recursive } => {
            let mut c = open(home)?;
            let n = c.rm(&path, recursive).await?;
            println!("removed {path}{}", if n > 1 { format!(" ({n} entries)") } else { String::new() });
            Ok(())
        }
        FilesCmd::Share { src, with, new } => {
            let mut c = open(home)?;
            confirm_target(&mut c, &with, new).await?;
            let to = c.share(&src, &with).await?;
            println!("shared {src} with {with}: it is {}{} there", to.label, hush_core::display::escape(&to.path));
            Ok(())
        }
        FilesCmd::Unshare { src, from } => {
            let mut c = open(home)?;
            c.unshare(&src, &from).await?;
            println!("took {src} back from {from}");
            Ok(())
        }
        FilesCmd::Export { src, age_recipient, output, force, transfer } => {
            let mut c = open(home)?;
            let dest = destination(output, force);
            let r = c.export(&src, &age_recipient, &dest, transfer.options()).await?;
            let shown = dest.describe();
            say(
                &dest,
                &format!(
                    "wrote {shown} ({} of content) as an age file; open it with: age -d -i YOUR_KEY_FILE {}",
                    hush_client::drive::human(r.size),
                    if matches!(dest, hush_client::drive::Destination::Stdout) { "FILE" } else { shown.as_str() }
                ),
            );
            Ok(())
        }
    }
}

/// `-o -` is standard output; anything else a file.
pub(crate) fn destination(output: PathBuf, force: bool) -> hush_client::drive::Destination {
    if output.as_os_str() == "-" {
        hush_client::drive::Destination::Stdout
    } else {
        hush_client::drive::Destination::File { path: output, force }
    }
}

/// What `get` and `export` report: on standard error when the file itself went to
/// standard output.
pub(crate) fn say(dest: &hush_client::drive::Destination, text: &str) {
    if matches!(dest, hush_client::drive::Destination::Stdout) {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}
