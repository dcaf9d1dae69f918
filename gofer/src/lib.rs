//! The Gofer: the separate, chrooted, seccomp-confined process through which the
//! Sentry reaches host files. It will own the request/response wire protocol
//! (shared with the VFS client) and the server that walks, opens and donates host
//! files. Arrives with the filesystem issue; nothing lives here yet.
