//! Discord's permission arithmetic, as Discord computes it: the @everyone role and the
//! member's roles give the base; the channel's overwrites apply in the order @everyone, roles
//! (all allows and denies together), member; administrator and the guild owner get
//! everything; without View Channel nothing else in the channel counts, and without Send
//! Messages neither do Embed Links and Attach Files.
//! <https://discord.com/developers/docs/topics/permissions#permission-overwrites>

/// One permission bit and the name the Discord client shows for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub bit: u64,
    pub name: &'static str,
}

pub const ADMINISTRATOR: u64 = 1 << 3;
pub const VIEW_CHANNEL: Permission = Permission {
    bit: 1 << 10,
    name: "View Channel",
};
pub const SEND_MESSAGES: Permission = Permission {
    bit: 1 << 11,
    name: "Send Messages",
};
pub const EMBED_LINKS: Permission = Permission {
    bit: 1 << 14,
    name: "Embed Links",
};
pub const ATTACH_FILES: Permission = Permission {
    bit: 1 << 15,
    name: "Attach Files",
};
pub const READ_MESSAGE_HISTORY: Permission = Permission {
    bit: 1 << 16,
    name: "Read Message History",
};
pub const CREATE_PUBLIC_THREADS: Permission = Permission {
    bit: 1 << 35,
    name: "Create Public Threads",
};
pub const SEND_MESSAGES_IN_THREADS: Permission = Permission {
    bit: 1 << 38,
    name: "Send Messages in Threads",
};
/// Mention @everyone, @here and All Roles, and Send TTS: they also depend on Send Messages.
const MENTION_EVERYONE: u64 = 1 << 17;
const SEND_TTS: u64 = 1 << 12;

/// What a feed channel needs: reading posts and their history, a thread per case with its card.
pub const FEED_NEEDS: &[Permission] = &[
    VIEW_CHANNEL,
    READ_MESSAGE_HISTORY,
    CREATE_PUBLIC_THREADS,
    SEND_MESSAGES_IN_THREADS,
    EMBED_LINKS,
];

/// What a channel carebot posts into needs (escalations, digest, queue).
pub const POST_NEEDS: &[Permission] = &[VIEW_CHANNEL, SEND_MESSAGES, EMBED_LINKS, ATTACH_FILES];

/// What the cases channel needs: a message and a thread per imported case.
pub const CASES_NEEDS: &[Permission] = &[
    VIEW_CHANNEL,
    SEND_MESSAGES,
    CREATE_PUBLIC_THREADS,
    SEND_MESSAGES_IN_THREADS,
    EMBED_LINKS,
];

/// A channel permission overwrite (`ChannelPermissionOverwriteResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overwrite {
    pub id: u64,
    /// 0: a role, 1: a member.
    pub kind: u8,
    pub allow: u64,
    pub deny: u64,
}

/// The member whose permissions are computed.
#[derive(Debug, Clone)]
pub struct Member<'a> {
    pub user_id: u64,
    pub role_ids: &'a [u64],
    pub is_owner: bool,
}

/// The guild-wide permissions: @everyone's and the member's roles' together.
/// `role_permissions` gives a role's permissions by id (`None` for an unknown role).
pub fn base(guild_id: u64, member: &Member<'_>, role_permissions: impl Fn(u64) -> Option<u64>) -> u64 {
    if member.is_owner {
        return u64::MAX;
    }
    let mut p = role_permissions(guild_id).unwrap_or(0);
    for role in member.role_ids {
        p |= role_permissions(*role).unwrap_or(0);
    }
    if p & ADMINISTRATOR != 0 {
        return u64::MAX;
    }
    p
}

/// The member's permissions in a channel with these overwrites, from their [`base`].
pub fn in_channel(guild_id: u64, member: &Member<'_>, base: u64, overwrites: &[Overwrite]) -> u64 {
    if base & ADMINISTRATOR != 0 {
        return u64::MAX;
    }
    let mut p = base;
    if let Some(everyone) = overwrites.iter().find(|o| o.kind == 0 && o.id == guild_id) {
        p &= !everyone.deny;
        p |= everyone.allow;
    }
    let (mut allow, mut deny) = (0, 0);
    for o in overwrites
        .iter()
        .filter(|o| o.kind == 0 && o.id != guild_id && member.role_ids.contains(&o.id))
    {
        allow |= o.allow;
        deny |= o.deny;
    }
    p &= !deny;
    p |= allow;
    if let Some(own) = overwrites.iter().find(|o| o.kind == 1 && o.id == member.user_id) {
        p &= !own.deny;
        p |= own.allow;
    }
    if p & VIEW_CHANNEL.bit == 0 {
        return 0;
    }
    if p & SEND_MESSAGES.bit == 0 {
        p &= !(EMBED_LINKS.bit | ATTACH_FILES.bit | MENTION_EVERYONE | SEND_TTS);
    }
    p
}

/// The permissions of `needs` that `have` lacks.
pub fn missing(have: u64, needs: &[Permission]) -> Vec<Permission> {
    needs.iter().copied().filter(|n| have & n.bit == 0).collect()
}

/// The bits of every permission carebot needs anywhere (for the invite link).
pub fn all_needed() -> u64 {
    FEED_NEEDS
        .iter()
        .chain(POST_NEEDS)
        .chain(CASES_NEEDS)
        .fold(0, |bits, p| bits | p.bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUILD: u64 = 1;
    const AGENTS: u64 = 10;
    const BOTS: u64 = 11;
    const ME: u64 = 99;
    const BASIC: u64 = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16);

    fn roles(id: u64) -> Option<u64> {
        match id {
            GUILD => Some(BASIC),
            AGENTS => Some(0),
            BOTS => Some(1 << 35),
            _ => None,
        }
    }

    fn me(role_ids: &[u64]) -> Member<'_> {
        Member {
            user_id: ME,
            role_ids,
            is_owner: false,
        }
    }

    fn role(id: u64, allow: u64, deny: u64) -> Overwrite {
        Overwrite {
            id,
            kind: 0,
            allow,
            deny,
        }
    }

    #[test]
    fn the_base_is_everyone_and_the_members_roles_together() {
        assert_eq!(base(GUILD, &me(&[BOTS]), roles), BASIC | (1 << 35));
        assert_eq!(base(GUILD, &me(&[]), roles), BASIC);
    }

    #[test]
    fn administrator_and_the_owner_get_everything() {
        let admin = |id| if id == GUILD { Some(ADMINISTRATOR) } else { None };
        assert_eq!(base(GUILD, &me(&[]), admin), u64::MAX);
        let owner = Member {
            is_owner: true,
            ..me(&[])
        };
        assert_eq!(base(GUILD, &owner, roles), u64::MAX);
        let ow = [role(GUILD, 0, u64::MAX)];
        assert_eq!(in_channel(GUILD, &me(&[]), u64::MAX, &ow), u64::MAX);
    }

    #[test]
    fn a_role_allow_beats_an_everyone_deny_and_a_member_overwrite_beats_both() {
        let m = me(&[BOTS]);
        let b = base(GUILD, &m, roles);
        let ow = [role(GUILD, 0, EMBED_LINKS.bit), role(BOTS, EMBED_LINKS.bit, 0)];
        assert_ne!(in_channel(GUILD, &m, b, &ow) & EMBED_LINKS.bit, 0);
        let ow = [
            role(BOTS, EMBED_LINKS.bit, 0),
            Overwrite {
                id: ME,
                kind: 1,
                allow: 0,
                deny: EMBED_LINKS.bit,
            },
        ];
        assert_eq!(in_channel(GUILD, &m, b, &ow) & EMBED_LINKS.bit, 0);
    }

    #[test]
    fn role_overwrites_combine_allow_over_deny() {
        let m = me(&[AGENTS, BOTS]);
        let b = base(GUILD, &m, roles);
        let ow = [role(AGENTS, 0, ATTACH_FILES.bit), role(BOTS, ATTACH_FILES.bit, 0)];
        assert_ne!(in_channel(GUILD, &m, b, &ow) & ATTACH_FILES.bit, 0);
        let ow = [role(AGENTS, 0, ATTACH_FILES.bit)];
        assert_eq!(
            missing(in_channel(GUILD, &m, b, &ow), POST_NEEDS),
            vec![ATTACH_FILES]
        );
    }

    #[test]
    fn an_overwrite_of_a_role_the_member_lacks_does_not_apply() {
        let m = me(&[]);
        let ow = [role(BOTS, 0, VIEW_CHANNEL.bit)];
        assert_eq!(in_channel(GUILD, &m, BASIC, &ow), BASIC);
    }

    #[test]
    fn without_view_nothing_counts_and_without_send_neither_do_embeds_and_files() {
        let m = me(&[]);
        assert_eq!(
            in_channel(GUILD, &m, BASIC, &[role(GUILD, 0, VIEW_CHANNEL.bit)]),
            0
        );
        let p = in_channel(GUILD, &m, BASIC, &[role(GUILD, 0, SEND_MESSAGES.bit)]);
        assert_eq!(
            missing(p, POST_NEEDS),
            vec![SEND_MESSAGES, EMBED_LINKS, ATTACH_FILES]
        );
    }
}
