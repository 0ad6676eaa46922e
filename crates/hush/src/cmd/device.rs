//! Device commands: list, link a new device, approve it, revoke one.

use super::*;

pub(crate) async fn device(home: &Path, cmd: DeviceCmd) -> anyhow::Result<()> {
    match cmd {
        DeviceCmd::Link { username, server } => {
            let server = client_config::server(home, &client_config::load(home)?, server)?;
            let p = passphrase(true)?;
            let c = hush_client::link::link_new_device(home, &server, &trust(), &username, p.0.as_bytes(), |code| {
                println!("On a device already signed in as {username}, run:\n\n    hush device approve {code}\n");
                println!("Waiting for approval...");
            })
            .await?;
            client_config::remember(home, &server, &trust())?;
            println!("linked: {} device {}", c.username(), c.device_id());
            Ok(())
        }
        DeviceCmd::Approve { code } => {
            let mut c = open(home)?;
            let id = hush_client::link::approve(&mut c, &code).await?;
            println!("approved device {id}; it joins your conversations as they sync");
            Ok(())
        }
        DeviceCmd::Revoke { device_id } => {
            let mut c = open(home)?;
            c.revoke_device(&device_id).await?;
            println!("revoked device {device_id}: it is out of your conversations and the key directory");
            Ok(())
        }
        DeviceCmd::List { json } => {
            let mut c = open(home)?;
            for (id, this) in c.devices().await? {
                let id = hush_core::display::escape(&id);
                if json {
                    println!("{}", serde_json::json!({"device_id": id, "this_device": this}));
                } else {
                    println!("{id}{}", if this { " (this device)" } else { "" });
                }
            }
            Ok(())
        }
    }
}
