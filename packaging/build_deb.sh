#!/bin/sh
# Build the .deb of one app from its PyInstaller bundle (make debs runs it for both).
#
#   packaging/build_deb.sh KIND BUNDLES_DIR ICONS_DIR OUT_DIR     (KIND: pro or client)
#
# The package installs the bundle under /opt/tchatator-KIND, a launcher
# /usr/bin/tchatator-KIND, the menu entry and the icon. No maintainer scripts:
# the menu and icon caches are refreshed by the triggers of desktop-file-utils
# and hicolor-icon-theme.
set -eu
umask 022  # what the package installs is readable by every user
kind=$1 bundles=$2 icons=$3 out=$4
name=tchatator-$kind
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../pyproject.toml")
arch=$(dpkg --print-architecture)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/opt" "$root/usr/bin" "$root/usr/share/applications" \
  "$root/usr/share/icons/hicolor/256x256/apps" "$root/DEBIAN"
cp -a "$bundles/$name" "$root/opt/$name"
# The launcher finds the bundle from where it is itself (/usr/bin/../../opt), so
# the package also works installed under another root (dpkg --root, a chroot).
cat > "$root/usr/bin/$name" <<LAUNCHER
#!/bin/sh
here=\$(dirname "\$(readlink -f "\$0")")
exec "\$here/../../opt/$name/$name" "\$@"
LAUNCHER
chmod 0755 "$root/usr/bin/$name"
install -m 0644 "$here/$name.desktop" "$root/usr/share/applications/$name.desktop"
install -m 0644 "$icons/$name.png" "$root/usr/share/icons/hicolor/256x256/apps/$name.png"

if [ "$kind" = pro ]; then
  title="Tchatator Pro" what="app for professionals"
else
  title="Tchatator" what="app for customers"
fi
# The bundle may have been built under a stricter umask: files readable by all,
# executables and folders executable by all, nothing writable but by root.
chmod -R u=rwX,go=rX "$root"
size=$(du -sk "$root" | cut -f1)
# What the bundled Qt needs from the system (X11/Wayland, OpenGL, fonts, D-Bus).
cat > "$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: Tchatator <packaging@tchatator.invalid>
Installed-Size: $size
Depends: libc6 (>= 2.34), libegl1, libgl1, libfontconfig1, libfreetype6, libdbus-1-3, libxkbcommon0, libxkbcommon-x11-0, libx11-xcb1, libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-render-util0, libxcb-shape0, libxcb-xkb1, libwayland-client0, libwayland-cursor0
Section: net
Priority: optional
Homepage: https://tchatator.invalid
Description: $title, the Tchatator $what
 Asynchronous messaging between professionals and their customers over the
 Pactocole (TLS). Self-contained: Python and Qt are inside /opt/$name.
CONTROL
mkdir -p "$out"
dpkg-deb --root-owner-group -Zzstd --build "$root" "$out/${name}_${version}_${arch}.deb" >/dev/null
echo "$out/${name}_${version}_${arch}.deb"
