typedef int kn_placeholder_buf;
