//! Conversation commands: create, add, remove, leave, rename, history, list, members.

use super::*;

pub(crate) async fn conversation(home: &Path, cmd: ConversationCmd) -> anyhow::Result<()> {
    let mut c = open(home)?;
    match cmd {
        ConversationCmd::Create { name, with } => {
            let id = c.create_conversation(&name, &with).await?;
            println!("created {name} ({})", &id[..12]);
        }
        ConversationCmd::Add { conversation, users } => {
            c.add_to(&conversation, &users).await?;
            println!("added {} to {conversation}", users.join(", "));
        }
        ConversationCmd::Remove { conversation, users, reencrypt } => {
            c.remove_from(&conversation, &users).await?;
            println!("removed {} from {conversation}", users.join(", "));
            if reencrypt {
                let n = c.reencrypt_space(&conversation).await?;
                println!("re-encrypted {n} file version(s) of {conversation} under new keys");
            }
        }
        ConversationCmd::History { conversation, setting } => {
            let on = setting == "on";
            c.set_history(&conversation, on).await?;
            if on {
                println!("history is on in {conversation}: devices and members who join from now on receive earlier messages from the member who adds them");
            } else {
                println!("history is off in {conversation}: whoever joins sees only what is sent after");
            }
        }
        ConversationCmd::Rename { conversation, new_name } => {
            c.rename(&conversation, &new_name).await?;
            println!("renamed {conversation} to {new_name}");
        }
        ConversationCmd::Heal { conversation } => {
            let id = c.heal(&conversation).await?;
            println!("re-created {conversation} ({}) with everyone in it; earlier messages stay in the old one", &id[..12]);
        }
        ConversationCmd::Leave { conversation } => {
            c.leave(&conversation).await?;
            println!("left {conversation}");
        }
        ConversationCmd::List { json } => {
            c.sync().await?;
            for (meta, members) in c.conversations() {
                let users: std::collections::BTreeSet<_> =
                    members.iter().map(|m| hush_core::display::escape(&m.username).into_owned()).collect();
                let safe_name = hush_core::display::escape(&meta.name);
                let replaced_by = c.replaced_by(&meta.id);
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"id": meta.id, "name": safe_name, "direct": meta.direct, "active": meta.active, "members": users, "replaced_by": replaced_by})
                    );
                } else {
                    let name = if meta.direct { "(one-to-one)".to_owned() } else { safe_name.into_owned() };
                    let state = match &replaced_by {
                        Some(new) => format!(" [replaced by {}]", &new[..new.len().min(12)]),
                        None if meta.active => String::new(),
                        None => " [left]".to_owned(),
                    };
                    println!("{} {name}{state}: {}", &meta.id[..12], users.into_iter().collect::<Vec<_>>().join(", "));
                }
            }
        }
        ConversationCmd::Members { conversation, json } => {
            c.sync().await?;
            for mut m in c.members(&conversation)? {
                m.username = hush_core::display::escape(&m.username).into_owned();
                m.device_id = hush_core::display::escape(&m.device_id).into_owned();
                if json {
                    println!("{}", serde_json::to_string(&m)?);
                } else {
                    println!("{} device {} (identity {})", m.username, m.device_id, m.fingerprint);
                }
            }
        }
    }
    Ok(())
}
