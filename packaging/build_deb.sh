#!/bin/sh
# Build the .deb of one app from its PyInstaller bundle (make debs runs it for both).
#
#   packaging/build_deb.sh KIND BUNDLES_DIR ICONS_DIR OUT_DIR     (KIND: pro or client)
#
# The package installs the bundle under /opt/tchatator-KIND, a launcher
# /usr/bin/tchatator-KIND, the menu entry and the icon. No maintainer scripts:
# the menu and icon caches are refreshed by the triggers of desktop-file-utils
# and hicolor-icon-theme.
#
# Depends: is computed from the bundle, not written by hand: every library
# that an ELF file of the bundle needs (objdump's NEEDED) and that the bundle
# does not carry itself, mapped to its bookworm package (the table below; a
# library missing from it stops the build). PyInstaller copies in whatever
# the build machine has of Qt's X11 libraries, so what the bundle carries, and
# so what the package must pull, depends on that machine. tests/test_bundles.py
# installs each .deb with apt on a bare bookworm and runs it.
set -eu
umask 022  # what the package installs is readable by every user
kind=$1 bundles=$2 icons=$3 out=$4
name=tchatator-$kind
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../pyproject.toml")
arch=$(dpkg --print-architecture)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

# The bookworm package of a library the bundle may need from the system: the C
# library, OpenGL, and whatever of Qt's X11, Wayland, font and D-Bus libraries
# PyInstaller did not copy in. "-" for Qt modules the bundle trims on purpose
# (bundle_spec.py): the few plugins that need them never load, whatever the
# system has.
package_of() {
  case $1 in
    ld-linux-x86-64.so.2 | ld-linux-aarch64.so.1 | libc.so.6 | libdl.so.2 | libm.so.6 | \
      libpthread.so.0 | libresolv.so.2 | librt.so.1 | libutil.so.1) echo libc6 ;;
    libEGL.so.1) echo libegl1 ;;
    libGL.so.1) echo libgl1 ;;
    libOpenGL.so.0) echo libopengl0 ;;
    libGLX.so.0) echo libglx0 ;;
    libX11.so.6) echo libx11-6 ;;
    libX11-xcb.so.1) echo libx11-xcb1 ;;
    libXau.so.6) echo libxau6 ;;
    libXdmcp.so.6) echo libxdmcp6 ;;
    libXext.so.6) echo libxext6 ;;
    libXrender.so.1) echo libxrender1 ;;
    libxcb.so.1) echo libxcb1 ;;
    libxcb-*.so.[0-9]) # libxcb-icccm.so.4 -> libxcb-icccm4
      echo "$1" | sed 's/\.so\.//' ;;
    libxkbcommon.so.0) echo libxkbcommon0 ;;
    libxkbcommon-x11.so.0) echo libxkbcommon-x11-0 ;;
    libwayland-client.so.0) echo libwayland-client0 ;;
    libwayland-cursor.so.0) echo libwayland-cursor0 ;;
    libwayland-egl.so.1) echo libwayland-egl1 ;;
    libfontconfig.so.1) echo libfontconfig1 ;;
    libfreetype.so.6) echo libfreetype6 ;;
    libdbus-1.so.3) echo libdbus-1-3 ;;
    libglib-2.0.so.0 | libgobject-2.0.so.0 | libgio-2.0.so.0 | libgmodule-2.0.so.0 | \
      libgthread-2.0.so.0) echo libglib2.0-0 ;;
    libz.so.1) echo zlib1g ;;
    libpng16.so.16) echo libpng16-16 ;;
    libstdc++.so.6) echo libstdc++6 ;;
    libgcc_s.so.1) echo libgcc-s1 ;;
    libQt6*) echo - ;;
    *) return 1 ;;
  esac
}

# Depends: for the bundle in $1, one package a line joined by ", ".
system_depends() {
  elves=$(mktemp)
  find "$1" -type f | while read -r file; do
    if [ "$(head -c4 "$file" | od -An -c | tr -d ' ')" = '177ELF' ]; then objdump -p "$file"; fi
  done > "$elves"
  carried=$(find "$1" \( -type f -o -type l \) -printf '%f\n' | sort -u)
  glibc=$(grep -o 'GLIBC_[0-9][0-9.]*' "$elves" | sed 's/GLIBC_//' | sort -uV | tail -1)
  packages=$(awk '$1 == "NEEDED" { print $2 }' "$elves" | sort -u | while read -r library; do
    if echo "$carried" | grep -qxF "$library"; then continue; fi
    package=$(package_of "$library") || {
      echo "build_deb.sh: no package known for $library (needed by the bundle): add it to package_of" >&2
      exit 1
    }
    [ "$package" = - ] || echo "$package"
  done) || exit 1
  rm -f "$elves"
  # Data rather than libraries: the bundle carries libfontconfig and
  # libxkbcommon, not the font configuration and fonts (fontconfig-config
  # depends on a font) nor the keyboard maps their packages would bring.
  packages=$(printf '%s\nfontconfig-config\nxkb-data\n' "$packages" | sort -u |
    sed "s/^libc6\$/libc6 (>= $glibc)/")
  echo "$packages" | paste -sd, - | sed 's/,/, /g'
}

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
depends=$(system_depends "$root/opt/$name")
cat > "$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: Tchatator <packaging@tchatator.invalid>
Installed-Size: $size
Depends: $depends
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
