// The operations map: hamlet outlines from the commune's commune.yml (on the province's view every
// commune's, ids "CODE:hamlet") as GeoJSON, counts per hamlet for each
// layer. No tile layer at all: it works without internet. Data comes from the page's JSON block.
(function () {
  "use strict";
  var holder = document.getElementById("map");
  var source = document.getElementById("map-data");
  if (!holder || !source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  // Leaflet puts strings in as HTML: every label goes in as a text node instead.
  function text(value) {
    var span = document.createElement("span");
    span.textContent = value;
    return span;
  }
  var map = L.map(holder, { zoomControl: true, attributionControl: false });
  var outlines = L.featureGroup();
  data.hamlets.forEach(function (hamlet) {
    if (!hamlet.geometry) { return; }
    var feature = { type: "Feature", properties: { id: hamlet.id, name: hamlet.name }, geometry: hamlet.geometry };
    L.geoJSON(feature, {
      style: { color: "#37474f", weight: 2, fillColor: "#a5d6a7", fillOpacity: 0.35 },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(text(f.properties.name), { permanent: true, direction: "center", className: "hamlet-name" });
        layer.on("add", function () {
          var el = layer.getElement();
          if (el) { el.setAttribute("data-hamlet", f.properties.id); el.classList.add("hamlet"); }
        });
      }
    }).addTo(outlines);
  });
  // The view first: layers added to a map without one cannot be projected.
  if (outlines.getLayers().length) {
    map.fitBounds(outlines.getBounds(), { padding: [10, 10] });
  } else {
    map.setView([21.66, 105.57], 13);
  }
  outlines.addTo(map);
  // Hamlet names only where a hamlet is wide enough on the screen to hold one; zoomed out (the
  // province's view) each commune's name once, over its hamlets, instead of a pile of names.
  var communeOf = {};
  data.hamlets.forEach(function (hamlet) { communeOf[hamlet.id] = hamlet.commune; });
  var communes = {};  // a commune's name -> the bounds of its hamlets
  outlines.eachLayer(function (group) {
    group.eachLayer(function (layer) {
      var name = communeOf[layer.feature.properties.id];
      if (!name) { return; }
      var bounds = layer.getBounds();
      communes[name] = (communes[name] || L.latLngBounds(bounds.getSouthWest(), bounds.getNorthEast()))
        .extend(bounds);
    });
  });
  var communeNames = L.layerGroup();
  Object.keys(communes).forEach(function (name) {
    L.tooltip({ permanent: true, direction: "center", className: "commune-name" })
      .setLatLng(communes[name].getCenter()).setContent(text(name)).addTo(communeNames);
  });
  function hamletWidths() {
    var widths = [];
    outlines.eachLayer(function (group) {
      group.eachLayer(function (layer) {
        var bounds = layer.getBounds();
        widths.push(map.latLngToLayerPoint(bounds.getNorthEast()).x -
                    map.latLngToLayerPoint(bounds.getSouthWest()).x);
      });
    });
    widths.sort(function (a, b) { return a - b; });
    return widths.length ? widths[Math.floor(widths.length / 2)] : Infinity;
  }
  function labels() {
    var far = hamletWidths() < 90;
    holder.classList.toggle("far", far);
    if (far && Object.keys(communes).length) { communeNames.addTo(map); } else { communeNames.remove(); }
  }
  map.on("zoomend", labels);
  labels();
  data.layers.forEach(function (layer, index) {
    data.hamlets.forEach(function (hamlet) {
      var count = layer.by_hamlet[hamlet.id] || 0;
      if (!count || !hamlet.centre) { return; }
      // Below the hamlet's name, one column per layer.
      var at = [hamlet.centre[0] - 0.005, hamlet.centre[1] + (index - (data.layers.length - 1) / 2) * 0.004];
      L.circleMarker(at, { radius: 8 + Math.min(count, 20), color: layer.colour, fillColor: layer.colour,
                           fillOpacity: 0.7 })
        .bindTooltip(text(layer.title + ": " + count), { permanent: true, direction: "top", className: "count" })
        .bindPopup(text(((layer.codes || {})[hamlet.id] || []).join(", ") || layer.title))
        .addTo(map);
    });
  });
  holder.setAttribute("data-ready", "true");
})();
