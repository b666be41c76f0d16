typedef int kn_placeholder_crypto;
