# An example collaboration kernel image (what a DESI maintainer would build elsewhere and save):
# Debian's own Python, ipykernel and numpy, and a file that says which image this is.
FROM debian:trixie
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3-ipykernel python3-numpy >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && echo "desi-image 26.8" > /etc/hpchub-image
