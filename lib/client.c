typedef int kn_placeholder_client;
