"""The syslog input: RFC 5424 / RFC 3164 over UDP, TCP and a Unix datagram socket."""
