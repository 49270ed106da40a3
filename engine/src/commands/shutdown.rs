//! SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: stops this engine (and the standalone
//! process), saving first when SAVE is given or save rules are configured (unless NOSAVE).
//! NOW changes nothing: there are no replicas to wait for.

use super::{CmdError, CmdResult, Ctx};

pub fn shutdown(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mut nosave, mut save, mut now, mut force, mut abort) = (false, false, false, false, false);
    for arg in &argv[1..] {
        let word = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match word.as_str() {
            "nosave" => nosave = true,
            "save" => save = true,
            "now" => now = true,
            "force" => force = true,
            "abort" => abort = true,
            _ => return Err(CmdError::Syntax),
        }
    }
    if (abort && (nosave || save || now || force)) || (nosave && save) {
        return Err(CmdError::Syntax);
    }
    if abort {
        // A shutdown here is immediate: one can never be in progress.
        return Err(CmdError::msg("ERR No shutdown in progress."));
    }
    // A failed save keeps the engine running unless FORCE.
    super::persist::shutdown_save(ctx, save, nosave, force)?;
    tracing::warn!(engine = %ctx.server.name, client = ctx.client.id, "user requested shutdown");
    // Like Redis, no reply: the connection closes and the engine stops.
    ctx.client.close_after_reply = true;
    ctx.server.request_shutdown();
    Ok(())
}
