typedef int kn_placeholder_sigv4;
