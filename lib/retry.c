typedef int kn_placeholder_retry;
