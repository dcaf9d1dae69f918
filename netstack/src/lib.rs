//! The network stack: AF_INET/AF_INET6 sockets (TCP, UDP, ICMP echo) over smoltcp,
//! behind rVisor's own socket table, listen backlog, options and readiness;
//! AF_NETLINK route; network devices. Arrives with the networking issue; nothing
//! lives here yet.
