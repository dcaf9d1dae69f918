//! The Gofer: the separate, confined process through which the Sentry reaches
//! host files. This crate holds the server and its seccomp policy; the wire
//! protocol and the fd-passing transport are the `gofer-protocol` crate,
//! shared with the VFS's client filesystem.
//!
//! The protocol is request/response over a SOCK_SEQPACKET socket, one message
//! each way. Files are addressed by gofer-side handles. A walk opens exactly
//! one component with O_NOFOLLOW relative to its parent handle, so no name the
//! Sentry sends can leave the exported tree; the Sentry resolves symlinks
//! itself. Regular files opened for I/O are donated to the Sentry with
//! SCM_RIGHTS; directory listings come with every entry's attributes.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod seccomp;
pub mod server;
