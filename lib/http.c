typedef int kn_placeholder_http;
