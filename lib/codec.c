typedef int kn_placeholder_codec;
